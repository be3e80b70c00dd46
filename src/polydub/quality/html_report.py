"""report.html: one self-contained page (inline CSS, plots as base64 PNG, no JS) beside report.json."""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path
from typing import Any

from polydub.quality.lips_html import lipsync_html
from polydub.quality.speakers_html import speakers_html

HTML_FILE = "report.html"

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px;color:#222;max-width:1200px}
h1{font-size:1.5em}h2{font-size:1.15em;margin-top:1.6em;border-bottom:1px solid #ddd}
table{border-collapse:collapse;font-size:.88em;width:100%}
th,td{border:1px solid #ddd;padding:4px 6px;vertical-align:top;text-align:left}
th{background:#f4f4f4}.num{text-align:right;white-space:nowrap}
.flag{color:#b00020;font-weight:600}.ok{color:#1b7d2f}.stats td:first-child{font-weight:600;width:260px}
img{max-width:100%;height:auto;border:1px solid #eee}
.muted{color:#777}
"""


def _plt():
    import matplotlib

    matplotlib.use("Agg")  # no display: headless servers and workers
    import matplotlib.pyplot as plt

    return plt


def _png(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    _plt().close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _flags(seg: dict) -> list[str]:
    return list((seg.get("quality") or {}).get("flags") or [])


def plot_timeline(segments: list[dict], duration: float) -> str:
    plt = _plt()
    speakers = sorted({s.get("speaker") or "S1" for s in segments})
    fig, ax = plt.subplots(figsize=(11, 0.9 + 0.8 * len(speakers)))
    for row, spk in enumerate(speakers):
        y = row * 2
        mine = [s for s in segments if (s.get("speaker") or "S1") == spk]
        ax.broken_barh([(s["start"], s["end"] - s["start"]) for s in mine], (y + 0.95, 0.8),
                       facecolors="#9aa5b1", label="original" if row == 0 else None)
        dubbed = [s for s in mine if s.get("dub_start") is not None and s.get("dub_end") is not None]
        colors = ["#d1495b" if _flags(s) else "#2e86ab" for s in dubbed]
        ax.broken_barh([(s["dub_start"], s["dub_end"] - s["dub_start"]) for s in dubbed], (y + 0.1, 0.8),
                       facecolors=colors, label="dubbed" if row == 0 else None)
        for s in dubbed:
            ax.text(s["dub_start"] + 0.02, y + 0.5, str(s["id"]), va="center", fontsize=7, color="white")
    ax.set_yticks([row * 2 + 0.95 for row in range(len(speakers))], speakers)
    ax.set_xlim(0, max(duration, max((s.get("dub_end") or s["end"] for s in segments), default=1.0)))
    ax.set_xlabel("seconds  (top bar per speaker: original speech, bottom: dub; red = flagged)")
    ax.legend(loc="upper right", fontsize=8)
    ax.set_title("Timeline: original vs dubbed lines")
    return _png(fig)


def plot_tempo(segments: list[dict], min_tempo: float, max_tempo: float) -> str:
    plt = _plt()
    tempos = [float(s.get("tempo") or 1.0) for s in segments if s.get("audio")]
    fig, ax = plt.subplots(figsize=(5.5, 3))
    ax.hist(tempos or [1.0], bins=12, range=(min(0.8, *tempos) if tempos else 0.8,
                                            max(1.35, *tempos) if tempos else 1.35), color="#2e86ab")
    for limit in (min_tempo, max_tempo):
        ax.axvline(limit, color="#d1495b", linestyle="--", linewidth=1)
    ax.set_xlabel("tempo (1.0 = natural speed; dashed = limits)")
    ax.set_ylabel("lines")
    ax.set_title("Tempo histogram")
    return _png(fig)


def plot_line_scores(segments: list[dict], max_cer: float | None, min_similarity: float | None) -> str:
    plt = _plt()
    ids = [s["id"] for s in segments]
    cers = [((s.get("quality") or {}).get("cer") or 0.0) for s in segments]
    sims = [((s.get("quality") or {}).get("similarity") or 0.0) for s in segments]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 3))
    ax1.bar([str(i) for i in ids], cers, color=["#d1495b" if "unintelligible" in _flags(s) else "#2e86ab"
                                                for s in segments])
    ax1.set_title("Round-trip CER per line (lower is better)")
    ax1.set_xlabel("line")
    ax1.set_ylim(0, max(0.3, *cers) if cers else 1)
    ax2.bar([str(i) for i in ids], sims, color="#6a4c93")
    ax2.set_title("Voice similarity to original speaker (cosine)")
    ax2.set_xlabel("line")
    ax2.set_ylim(0, 1)
    if max_cer is not None:
        ax1.axhline(max_cer, color="#d1495b", linestyle="--", linewidth=1)
    if min_similarity is not None:
        ax2.axhline(min_similarity, color="#d1495b", linestyle="--", linewidth=1)
    for ax in (ax1, ax2):
        if len(ids) > 30:
            ax.set_xticks(ax.get_xticks()[:: max(1, len(ids) // 30)])
    return _png(fig)


def plot_stages(stages: dict[str, float]) -> str:
    plt = _plt()
    names = list(stages) or ["(none)"]
    secs = [stages.get(n, 0.0) for n in names]
    fig, ax = plt.subplots(figsize=(5.5, 0.6 + 0.35 * len(names)))
    ax.barh(names, secs, color="#f4a259")
    ax.invert_yaxis()
    ax.set_xlabel("seconds")
    ax.set_title("Stage timings")
    return _png(fig)


def _fmt(value: Any, digits: int = 3) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return html.escape(str(value))


def _repairs_html(repairs: list[dict]) -> str:
    items = []
    for r in repairs or []:
        kept = " (kept)" if r.get("kept") else ""
        detail = r.get("result") or (f"{_fmt(r.get('before'))} → {_fmt(r.get('after'))}"
                                     if "before" in r else "")
        items.append(f"{html.escape(str(r.get('check')))}: {html.escape(str(r.get('action')))} "
                     f"{html.escape(str(detail))}{kept}")
    return "<br>".join(items) or '<span class="muted">none</span>'


def _lines_table(segments: list[dict]) -> str:
    rows = []
    for s in segments:
        q = s.get("quality") or {}
        flags = _flags(s)
        flag_html = f'<span class="flag">{html.escape(", ".join(flags))}</span>' if flags \
            else '<span class="ok">ok</span>'
        rows.append(
            f"<tr><td class=num>{s['id']}</td><td>{html.escape(str(s.get('speaker')))}</td>"
            f"<td class=num>{_fmt(s['start'], 2)}–{_fmt(s['end'], 2)}</td>"
            f"<td>{html.escape(s.get('text') or '')}</td><td>{html.escape(s.get('translation') or '')}</td>"
            f"<td class=num>{_fmt(s.get('tempo'), 2)}</td><td class=num>{_fmt(q.get('overflow_s'), 2)}</td>"
            f"<td class=num>{_fmt(q.get('cer'))}</td><td class=num>{_fmt(q.get('similarity'))}</td>"
            f"<td class=num>{_fmt(q.get('backtranslation_score'))}</td><td>{flag_html}</td></tr>")
    head = ("<tr><th>#</th><th>speaker</th><th>time</th><th>source</th><th>dub text</th><th>tempo</th>"
            "<th>overflow s</th><th>CER</th><th>similarity</th><th>back-translation</th><th>flags</th></tr>")
    return f"<table>{head}{''.join(rows)}</table>"


def _adequacy_html(adequacy: dict | None) -> str:
    """Why the translation check flagged the line (invented, dropped or leaked content)."""
    reasons = (adequacy or {}).get("reasons") or []
    return "".join(f'<br><span class="flag">{html.escape(r)}</span>' for r in reasons)


def _flagged_html(segments: list[dict]) -> str:
    flagged = [s for s in segments if _flags(s)]
    if not flagged:
        return '<p class="ok">No line failed a check.</p>'
    parts = []
    for s in flagged:
        q = s.get("quality") or {}
        parts.append(
            f"<tr><td class=num>{s['id']}</td><td class=flag>{html.escape(', '.join(_flags(s)))}</td>"
            f"<td>{html.escape(s.get('text') or '')}</td><td>{html.escape(s.get('translation') or '')}</td>"
            f"<td>{html.escape(q.get('heard') or '')}</td><td>{html.escape(q.get('backtranslation') or '')}"
            f"{_adequacy_html(q.get('adequacy'))}</td><td>{_repairs_html(q.get('repairs') or [])}</td></tr>")
    head = ("<tr><th>#</th><th>flags</th><th>source</th><th>dub text</th><th>Whisper heard</th>"
            "<th>back-translation</th><th>repairs tried</th></tr>")
    return f"<table>{head}{''.join(parts)}</table>"


def _summary_html(report: dict) -> str:
    summary = report.get("summary") or {}
    passing = summary.get("passing") or {}
    n = summary.get("lines") or 0
    rows = [("Input", html.escape(str(report.get("input")))),
            ("Languages", f"{_fmt(report.get('source_language'))} → {_fmt(report.get('target_language'))}"),
            ("Engines", html.escape(", ".join(f"{k}: {v.get('name') if isinstance(v, dict) else v}"
                                              for k, v in (report.get("engines") or {}).items())))]
    rows += [("Lines", str(n)), ("Inside slot, tempo within limits", f"{_fmt(summary.get('in_slot_percent'), 1)} %")]
    rows += [(f"Passing: {k}", f"{v} / {summary.get('checked', n)}") for k, v in passing.items()]
    rows += [("Tempo mean / p95 / max", " / ".join(_fmt(summary.get(k), 3)
                                                   for k in ("tempo_mean", "tempo_p95", "tempo_max"))),
             ("Mean CER", _fmt(summary.get("mean_cer"), 4)),
             ("Similarity per speaker", html.escape(", ".join(f"{k}: {v}" for k, v in
                                                              (summary.get("similarity_per_speaker") or {}).items())
                                                    or "–")),
             ("Real-time factor (total)", _fmt((report.get("timing") or {}).get("real_time_factor"), 2)),
             ("Flagged lines", html.escape(", ".join(map(str, summary.get("flagged") or [])) or "none"))]
    return '<table class="stats">' + "".join(f"<tr><td>{k}</td><td>{v}</td></tr>" for k, v in rows) + "</table>"


def render_html(report: dict, out_dir: Path | None = None) -> str:
    segments = list(report.get("segments") or [])
    timing = report.get("timing") or {}
    thresholds = (report.get("summary") or {}).get("limits") or {}
    min_tempo = float(thresholds.get("min_tempo", 0.85))
    max_tempo = float(thresholds.get("max_tempo", 1.25))
    plots = {
        "timeline": plot_timeline(segments, float(timing.get("media_seconds") or 0.0)) if segments else None,
        "tempo": plot_tempo(segments, min_tempo, max_tempo),
        "scores": plot_line_scores(segments, thresholds.get("max_cer", 0.25),
                                   thresholds.get("min_similarity", 0.15)) if segments else None,
        "stages": plot_stages(timing.get("stages") or {}),
    }
    imgs = {k: f'<img alt="{k} plot" src="{v}">' if v else '<p class="muted">no lines</p>'
            for k, v in plots.items()}
    warnings = "".join(f"<li>{html.escape(str(w))}</li>" for w in report.get("warnings") or [])
    title = f"polydub report — {html.escape(Path(str(report.get('input') or 'dub')).name)}"
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title><style>{_CSS}</style></head>
<body><h1>{title}</h1>
<h2>Summary</h2>{_summary_html(report)}
{f'<h2>Warnings</h2><ul>{warnings}</ul>' if warnings else ''}
{speakers_html(report)}
<h2>Flagged lines</h2>{_flagged_html(segments)}
<h2>Timeline</h2>{imgs['timeline']}
<h2>Tempo</h2>{imgs['tempo']}
<h2>Per-line intelligibility and voice</h2>{imgs['scores']}
<h2>All lines</h2>{_lines_table(segments)}
{lipsync_html(report, out_dir)}
<h2>Stage timings</h2>{imgs['stages']}
<p class="muted">polydub {html.escape(str(report.get('polydub_version', '')))}</p>
</body></html>
"""


def write_html_report(report: dict, out_dir: Path) -> Path:
    """Write out_dir/report.html (self-contained, readable offline) and return its path."""
    path = Path(out_dir) / HTML_FILE
    tmp = path.with_suffix(".html.tmp")
    tmp.write_text(render_html(report, out_dir), encoding="utf-8")
    tmp.replace(path)
    return path
