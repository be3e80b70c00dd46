"""Benchmark: translation quality and speed of every installed engine, and the invented-content flag.

For each direction in bench/mt/<src>-<tgt>.tsv (talk-style sentences with reference translations
written for this benchmark) and each installed engine or chain the registry offers for it (plus the
registry's own choice with its leaked-word fallback, "auto"): chrF (sacrebleu), sentences per
second, and the share of lines with leaked source words. Then the adequacy flag (quality/adequacy.py)
on bench/mt/adequacy.tsv: good translations vs the same lines with a swapped noun, an invented
clause, a dropped clause or a hallucinated repetition, plus the cases reported in issue 9.

Usage: .venv/bin/python bench/bench_mt.py [--directions en-ru,ru-en] [--engines qwen,gemma]
       [--limit N] [--cache FILE] [--no-adequacy] [--only-adequacy] [--json FILE] [--markdown]
A --cache file keeps every translation and score, so an interrupted run resumes where it stopped
(timings are then taken from the run that produced them).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import defaultdict
from pathlib import Path

from machine import machine_note  # noqa: E402  (bench/ is the script's folder)
from rich.console import Console
from rich.table import Table

from polydub.translation.chain import ChainTranslator
from polydub.translation.leaks import leak_problem
from polydub.translation.registry import TranslationRegistry

SETS = Path(__file__).resolve().parent / "mt"
DEFAULT_DIRECTIONS = ("en-ru", "en-de", "en-fr", "ru-en", "de-en", "ja-en", "en-es", "en-pt")
# Goal from issue 9: chrF +10 over Gemma on these.
GOAL_DIRECTIONS = ("en-ru", "en-de", "ru-en")


def read_tsv(path: Path) -> list[dict[str, str]]:
    lines = path.read_text(encoding="utf-8").splitlines()
    header = lines[0].split("\t")
    return [dict(zip(header, line.split("\t"), strict=True)) for line in lines[1:] if line.strip()]


class Cache:
    def __init__(self, path: Path | None, also: list[Path] | None = None) -> None:
        self.path = path
        self.spent = 0.0
        self.readonly = False  # --cached-only: report what earlier runs measured, translate nothing
        self.data: dict = {}
        for extra in also or []:  # results of runs in other processes, read only
            self.data.update(json.loads(extra.read_text()))
        if path and path.exists():
            self.data.update(json.loads(path.read_text()))

    def get(self, key: str):
        return self.data.get(key)

    def put(self, key: str, value) -> None:
        self.data[key] = value
        if self.path:
            tmp = self.path.with_suffix(".tmp")
            tmp.write_text(json.dumps(self.data, ensure_ascii=False, indent=0))
            tmp.replace(self.path)


def chrf(hypotheses: list[str], references: list[str]) -> float:
    from sacrebleu.metrics import CHRF

    return float(CHRF().corpus_score(hypotheses, [references]).score)


class Memo:
    """An engine whose calls are remembered in the cache (by its name, the pair and the lines), so
    the registry's own choice ("auto") reuses the direct run and only pays for its fallbacks."""

    def __init__(self, engine, cache: Cache) -> None:
        self._engine, self._cache = engine, cache

    def __getattr__(self, attr: str):
        return getattr(self._engine, attr)

    def translate(self, lines, source: str, target: str) -> list[str]:
        # An engine that says which prompt it runs (Qwen) files its results under that prompt.
        version = getattr(self._engine, "prompt_version", "")
        name = f"{self._engine.name}@{version}" if version else self._engine.name
        key = "call|" + json.dumps([name, source, target, list(lines)], ensure_ascii=False)
        hit = self._cache.get(key)
        if hit is None and self._cache.readonly:
            raise LookupError(f"{self._engine.name} {source}->{target} is not in the cache")
        if hit is None:
            began = time.perf_counter()
            hit = {"texts": list(self._engine.translate(lines, source, target)),
                   "seconds": time.perf_counter() - began}
            self._cache.put(key, hit)
        self._cache.spent += hit["seconds"]
        return list(hit["texts"])


def engines_for(registry: TranslationRegistry, src: str, tgt: str, wanted: set[str] | None) -> list:
    found = []
    for cand in registry.candidates(src, tgt):
        links = cand.links if isinstance(cand, ChainTranslator) else [cand]
        names = {link.name for link in links}
        if wanted and not (names & wanted or cand.name in wanted):
            continue
        # A chain through an LLM costs two model runs and never outranks the LLM's direct pair.
        if len(links) > 1 and any(link.uses_llm for link in links) and not (wanted and cand.name in wanted):
            continue
        found.append(cand)
    return found


def translate_timed(cache: Cache, run) -> tuple[list[str], float]:
    """Seconds are those of the calls that produced the output (a chain adds its two links)."""
    cache.spent = 0.0
    texts = run()
    return texts, cache.spent


def bench_direction(registry: TranslationRegistry, direction: str, cache: Cache, limit: int | None,
                    wanted: set[str] | None, console: Console) -> list[dict]:
    src, tgt = direction.split("-")
    rows = read_tsv(SETS / f"{direction}.tsv")[:limit]
    sources = [r["source"] for r in rows]
    refs = [r["reference"] for r in rows]
    results = []
    for engine in engines_for(registry, src, tgt, wanted):
        console.print(f"  {direction}: {engine.name} ({len(rows)} lines)…", highlight=False)
        try:
            texts, seconds = translate_timed(cache, lambda e=engine: e.translate(sources, src, tgt))
        except LookupError:
            continue
        results.append(_row(direction, engine.name, engine.tier(src, tgt), sources, texts, refs, seconds))
    if not wanted or "auto" in wanted:
        console.print(f"  {direction}: auto (registry choice with fallback)…", highlight=False)
        try:
            done = registry.translate_document(sources, src, tgt)
        except LookupError:
            return results
        counts = ", ".join(f"{name}×{done.engines.count(name)}" for name in dict.fromkeys(done.engines))
        results.append(_row(direction, f"auto ({counts})", None, sources, done.texts, refs, None))
    return results


def _row(direction: str, name: str, tier, sources, texts, refs, seconds) -> dict:
    src, tgt = direction.split("-")
    leaks = sum(1 for s, t in zip(sources, texts, strict=True) if leak_problem(s, t, src, tgt))
    return {"direction": direction, "engine": name, "tier": tier, "chrf": round(chrf(texts, refs), 1),
            "sentences_per_s": round(len(texts) / seconds, 2) if seconds else None,
            "leak_rate": round(leaks / len(texts), 3), "lines": len(texts), "outputs": texts}


def print_mt_table(results: list[dict], console: Console, markdown: bool) -> None:
    table = Table(title=f"Translation: chrF vs the bench/mt references ({machine_note()})")
    for col in ("direction", "engine", "chrF", "sent/s", "leaked lines"):
        table.add_column(col, justify="right" if col not in ("direction", "engine") else "left")
    for r in results:
        table.add_row(r["direction"], r["engine"], f"{r['chrf']:.1f}", f"{r['sentences_per_s'] or 0:.2f}",
                      f"{100 * r['leak_rate']:.0f} %")
    console.print(table)
    gemma = {r["direction"]: r["chrf"] for r in results if r["engine"] == "gemma"}
    qwen = {r["direction"]: r["chrf"] for r in results if r["engine"] == "qwen"}
    for direction in GOAL_DIRECTIONS:
        if direction in gemma and direction in qwen:
            gain = qwen[direction] - gemma[direction]
            console.print(f"goal {direction}: qwen {qwen[direction]:.1f} vs gemma {gemma[direction]:.1f} "
                          f"({gain:+.1f}, goal +10: {'met' if gain >= 10 else 'NOT met'})")
    if markdown:
        print("\n| direction | engine | chrF | sentences/s | leaked lines |\n|---|---|---|---|---|")
        for r in results:
            print(f"| {r['direction']} | {r['engine']} | {r['chrf']:.1f} | {r['sentences_per_s'] or 0:.2f} | "
                  f"{100 * r['leak_rate']:.0f} % |")


# -- invented-content flag -------------------------------------------------

def _round_robin(items: list[dict]) -> list[dict]:
    """One line of each direction in turn, so an interrupted run still covers every direction."""
    by_direction: dict[str, list[dict]] = defaultdict(list)
    for item in items:
        by_direction[f"{item['src']}-{item['tgt']}"].append(item)
    queues = list(by_direction.values())
    out: list[dict] = []
    while any(queues):
        for queue in queues:
            if queue:
                out.append(queue.pop(0))
    return out


# Threshold grid for --tune: worst reverse PMI, reverse gain, forward mean, weakest forward stretch.
_GRID = [(p / 2, g / 10, f / 4, w / 5) for p in range(-16, -3, 2) for g in range(-5, 16, 2)
         for f in range(-16, -3, 2) for w in range(-20, 1, 2)]


def _f1(pr: dict) -> float:
    return 2 * pr["precision"] * pr["recall"] / (pr["precision"] + pr["recall"] or 1)


def _judged(items: list[dict], thresholds: tuple[float, ...]) -> list[tuple[dict, bool]]:
    """Flags with other model thresholds; the lexical and swapped-word flags do not depend on them."""
    from polydub.quality.adequacy import model_reasons

    return [(item, item["lexical"] or item["swapped"] or bool(model_reasons(item["scores"], *thresholds)))
            for item in items]


def _tune(rows: list[tuple[dict, bool]], console: Console) -> None:
    """Grid search of the model thresholds on the labelled lines (lexical checks always on)."""
    views = {"draft": [item for item, _ in rows],
             "qwen": [item | {"scores": {k: v for k, v in item["scores"].items() if k.startswith("reverse")},
                              "swapped": False} for item, _ in rows]}
    for view, items in views.items():
        scored = []
        for th in _GRID:
            pr = _precision_recall(_judged(items, th))
            scored.append((round(_f1(pr), 3), pr["precision"], th, pr["recall"]))
        for f1, precision, th, recall in sorted(scored, key=lambda b: (-b[0], -b[1]))[:5]:
            console.print(f"tune {view}: F1 {f1} pmi_worst<{th[0]} gain<{th[1]} forward_mean<{th[2]} "
                          f"forward_pmi_window<{th[3]} P {precision:.2f} R {recall:.2f}", highlight=False)


def _sweep_substitution(rows: list[tuple[dict, bool]], console: Console) -> None:
    """The substitution threshold alone, with the shipped model thresholds."""
    from polydub.quality.adequacy import model_reasons, substitution_reasons

    for gain_min in (1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 8.0):
        flagged = [(item, item["lexical"] or bool(model_reasons(item["scores"])) or bool(
            substitution_reasons(item.get("substitutions") or [], gain_min))) for item, _ in rows]
        pr = _precision_recall(flagged)
        console.print(f"substitution gain >= {gain_min}: P {pr['precision']:.3f} R {pr['recall']:.3f} "
                      f"per kind {pr['per_label']}", highlight=False)


def _held_out(rows: list[tuple[dict, bool]], console: Console) -> None:
    """Leave one direction out: thresholds tuned on the other directions, judged on the one left out,
    beside the shipped thresholds on the same lines (pooled over the directions)."""
    from polydub.quality.adequacy import FORWARD_MEAN_MIN, FORWARD_PMI_WINDOW_MIN, GAIN_MIN, PMI_WORST_MIN

    items = [item for item, _ in rows]
    shipped, tuned = [], []
    for direction in sorted({f"{i['src']}-{i['tgt']}" for i in items}):
        train = [i for i in items if f"{i['src']}-{i['tgt']}" != direction]
        test = [i for i in items if f"{i['src']}-{i['tgt']}" == direction]
        best = max(_GRID, key=lambda th: _f1(_precision_recall(_judged(train, th))))
        shipped += _judged(test, (PMI_WORST_MIN, GAIN_MIN, FORWARD_MEAN_MIN, FORWARD_PMI_WINDOW_MIN))
        tuned += _judged(test, best)
        console.print(f"held out {direction}: tuned on the others {best}", highlight=False)
    for name, flagged in (("shipped thresholds", shipped), ("tuned on the other directions", tuned)):
        pr = _precision_recall(flagged)
        console.print(f"held-out, {name}: P {pr['precision']:.3f} R {pr['recall']:.3f} F1 {_f1(pr):.3f} "
                      f"per kind {pr['per_label']}", highlight=False)


def bench_adequacy(cache: Cache, console: Console, markdown: bool, cached_only: bool = False,
                   tune: bool = False) -> dict:
    from polydub.quality.adequacy import AdequacyScorer, features, lexical_reasons, model_reasons, substitution_reasons
    from polydub.translation.qwen import QwenTranslator

    scorer = AdequacyScorer()
    if not scorer.available():
        console.print("[yellow]adequacy: the Qwen scorer is not installed; lexical checks only[/yellow]")
    items = _round_robin(read_tsv(SETS / "adequacy.tsv"))
    # The scorer decodes with Qwen's translation prompt: scores are kept under that prompt's hash
    # and the scorer's version (what it decodes).
    version = f"{QwenTranslator().prompt_version}-{AdequacyScorer.version}"
    if cached_only:
        items = [i for i in items if cache.get(
            f"adequacy-raw|{version}|{i['src']}-{i['tgt']}|{i['source']}|{i['translation']}") is not None]
        console.print(f"adequacy: {len(items)} labelled lines already scored in the cache", highlight=False)
    verdicts: dict[str, list[tuple[dict, bool]]] = {"draft": [], "qwen": []}
    began = time.perf_counter()
    for n, item in enumerate(items):
        src, tgt, source, text = item["src"], item["tgt"], item["source"], item["translation"]
        key = f"adequacy-raw|{version}|{src}-{tgt}|{source}|{text}"
        raw = cache.get(key)
        if raw is None:
            raw = scorer.measure_raw(source, text, src, tgt, produced_by="draft")
            cache.put(key, raw)
        if raw.get("forward") and "substitutions" not in raw:
            # The product tries substitutions only on lines nothing else flagged; here every draft
            # line gets them, so that each test's share of the flags can be read from the results.
            raw["substitutions"] = scorer.substitutions(source, text, src, tgt, raw)
            cache.put(key, raw)
        scores = features(raw)
        lexical = bool(lexical_reasons(source, text, src, tgt))
        # A line Qwen produced is judged by the reverse decode only (no self-scoring forward).
        reverse_only = {k: v for k, v in scores.items() if k.startswith("reverse")}
        substituted = raw.get("substitutions") or []
        swapped = bool(substitution_reasons(substituted))
        verdicts["draft"].append((item | {"scores": scores, "lexical": lexical, "substitutions": substituted,
                                          "swapped": swapped}, lexical or swapped or bool(model_reasons(scores))))
        verdicts["qwen"].append((item | {"scores": reverse_only, "lexical": lexical, "swapped": False},
                                 lexical or bool(model_reasons(reverse_only))))
        if n % 20 == 19:
            console.print(f"  adequacy: {n + 1}/{len(items)} lines scored", highlight=False)
    seconds = time.perf_counter() - began
    summary = {producer: _precision_recall(rows) for producer, rows in verdicts.items()}
    table = Table(title="Invented-content flag on bench/mt/adequacy.tsv (good vs corrupted lines)")
    for col in ("judged as output of", "precision", "recall", "false flags on good lines", "missed"):
        table.add_column(col)
    for producer, s in summary.items():
        table.add_row(producer, f"{s['precision']:.2f}", f"{s['recall']:.2f}",
                      f"{s['false_positives']}/{s['good']}", ", ".join(s["missed"][:6]) or "-")
    console.print(table)
    per_kind = Table(title="recall per kind of error (draft producer: forward and reverse scores)")
    for col in ("kind", "flagged"):
        per_kind.add_column(col)
    for kind, (hit, total) in summary["draft"]["per_label"].items():
        per_kind.add_row(kind, f"{hit}/{total}")
    console.print(per_kind)
    if markdown:
        print("\n| judged as output of | precision | recall | false flags on good lines |\n|---|---|---|---|")
        for producer, s in summary.items():
            print(f"| {producer} | {s['precision']:.2f} | {s['recall']:.2f} | {s['false_positives']}/{s['good']} |")
        print("\n| kind | flagged (draft) |\n|---|---|")
        for kind, (hit, total) in summary["draft"]["per_label"].items():
            print(f"| {kind} | {hit}/{total} |")
    if tune:
        _tune(verdicts["draft"], console)
        _held_out(verdicts["draft"], console)
        _sweep_substitution(verdicts["draft"], console)
    summary["seconds"] = round(seconds, 1)
    summary["items"] = [{**item, "flagged": flagged} for item, flagged in verdicts["draft"]]
    return summary


def is_bad(label: str) -> bool:
    return not label.startswith("ok")


def _precision_recall(rows: list[tuple[dict, bool]]) -> dict:
    tp = sum(1 for item, flagged in rows if flagged and is_bad(item["label"]))
    fp = sum(1 for item, flagged in rows if flagged and not is_bad(item["label"]))
    bad = sum(1 for item, _ in rows if is_bad(item["label"]))
    per_label: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for item, flagged in rows:
        per_label[item["label"]][0] += int(flagged)
        per_label[item["label"]][1] += 1
    missed = [f"{item['src']}-{item['tgt']} {item['label']}: {item['translation'][:40]}"
              for item, flagged in rows if is_bad(item["label"]) and not flagged]
    return {"precision": tp / (tp + fp) if tp + fp else 0.0, "recall": tp / bad if bad else 0.0,
            "false_positives": fp, "good": len(rows) - bad, "missed": missed,
            "per_label": {k: tuple(v) for k, v in sorted(per_label.items())}}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--directions", default=",".join(DEFAULT_DIRECTIONS))
    parser.add_argument("--engines", default="", help="only these engines (names; 'auto' = registry choice)")
    parser.add_argument("--limit", type=int, default=None, help="first N sentences per direction")
    parser.add_argument("--cache", type=Path, default=None, help="JSON file that keeps results between runs")
    parser.add_argument("--also-cache", type=Path, nargs="*", default=[],
                        help="more cache files to read (runs split over several processes)")
    parser.add_argument("--no-adequacy", action="store_true")
    parser.add_argument("--only-adequacy", action="store_true")
    parser.add_argument("--tune", action="store_true", help="adequacy: grid-search the model thresholds")
    parser.add_argument("--cached-only", action="store_true",
                        help="report only what earlier runs measured (translations and scores in the caches)")
    parser.add_argument("--json", type=Path, help="write all figures (and outputs) as JSON")
    parser.add_argument("--markdown", action="store_true", help="also print the tables as Markdown")
    args = parser.parse_args()
    console = Console()
    cache = Cache(args.cache, args.also_cache)
    cache.readonly = args.cached_only
    from polydub.translation.registry import default_engines

    registry = TranslationRegistry([Memo(e, cache) for e in default_engines()])
    wanted = {e.strip() for e in args.engines.split(",") if e.strip()} or None
    results: list[dict] = []
    if not args.only_adequacy:
        for direction in [d.strip() for d in args.directions.split(",") if d.strip()]:
            if not (SETS / f"{direction}.tsv").exists():
                console.print(f"[yellow]no test set for {direction}[/yellow]")
                continue
            results += bench_direction(registry, direction, cache, args.limit, wanted, console)
        print_mt_table(results, console, args.markdown)
    adequacy = None if args.no_adequacy else bench_adequacy(cache, console, args.markdown, args.cached_only, args.tune)
    if args.json:
        args.json.write_text(json.dumps({"mt": results, "adequacy": adequacy}, ensure_ascii=False, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
