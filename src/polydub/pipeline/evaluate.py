"""`polydub eval`: dub every media file of a folder, one row of quality numbers per file."""

from __future__ import annotations

import csv
import json
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

MEDIA_SUFFIXES = {".mp4", ".mkv", ".mov", ".webm", ".avi", ".m4v", ".wav", ".flac", ".mp3", ".m4a",
                  ".ogg", ".opus", ".aac"}
COLUMNS = ("file", "languages", "mt", "tts", "lines", "in_slot_percent", "tempo_mean", "tempo_p95",
           "mean_cer", "mean_similarity", "flagged", "rtf", "seconds", "error")


def media_files(folder_or_files: Path | str | Iterable[Path | str]) -> list[Path]:
    """Media files of a folder (recursively, sorted) or the given files as they are."""
    if isinstance(folder_or_files, str | Path):
        root = Path(folder_or_files)
        if root.is_file():
            return [root]
        return sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in MEDIA_SUFFIXES)
    return [Path(p) for p in folder_or_files]


def row_from_report(path: Path, report: dict, seconds: float) -> dict[str, Any]:
    summary = report.get("summary") or {}
    engines = report.get("engines") or {}
    mt = engines.get("mt")
    return {
        "file": path.name,
        "languages": f"{report.get('source_language')}→{report.get('target_language')}",
        "mt": mt.get("name") if isinstance(mt, dict) else mt,
        "tts": engines.get("tts"),
        "lines": summary.get("lines", len(report.get("segments") or [])),
        "in_slot_percent": summary.get("in_slot_percent"),
        "tempo_mean": summary.get("tempo_mean"),
        "tempo_p95": summary.get("tempo_p95"),
        "mean_cer": summary.get("mean_cer"),
        "mean_similarity": summary.get("mean_similarity"),
        "flagged": len(summary.get("flagged") or []),
        "rtf": (report.get("timing") or {}).get("real_time_factor"),
        "seconds": round(seconds, 1),
        "error": None,
    }


def evaluate(folder_or_files: Path | str | Iterable[Path | str], target_language: str,
             out_dir: Path | str, **options: Any) -> list[dict[str, Any]]:
    """Dub each file into out_dir/<stem>.<lang>/ and return one row per file. A file that fails
    gives a row with `error` set instead of stopping the whole evaluation."""
    from polydub.pipeline import DubOptions, dub

    out_dir = Path(out_dir)
    rows = []
    for path in media_files(folder_or_files):
        began = time.perf_counter()
        target = out_dir / f"{path.stem}.{target_language}"
        try:
            report = dub(path, target, DubOptions(target_language=target_language, **options))
            rows.append(row_from_report(path, report, time.perf_counter() - began))
        except Exception as exc:  # one broken file must not hide the numbers of the others
            row: dict[str, Any] = dict.fromkeys(COLUMNS)
            row.update(file=path.name, languages=f"?→{target_language}",
                       seconds=round(time.perf_counter() - began, 1), error=f"{type(exc).__name__}: {exc}")
            rows.append(row)
    return rows


def write_rows(rows: list[dict[str, Any]], out_dir: Path | str, stem: str = "eval") -> tuple[Path, Path]:
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    csv_path, json_path = out_dir / f"{stem}.csv", out_dir / f"{stem}.json"
    with csv_path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(COLUMNS), extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    json_path.write_text(json.dumps(rows, indent=2, ensure_ascii=False), encoding="utf-8")
    return csv_path, json_path


def _cell(value: Any, digits: int = 3) -> str:
    if value is None:
        return "–"
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def totals(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Line-weighted aggregate over successful rows (what the acceptance numbers are about)."""
    ok = [r for r in rows if not r.get("error") and r.get("lines")]
    lines = sum(r["lines"] for r in ok)

    def weighted(key: str) -> float | None:
        pairs = [(r[key], r["lines"]) for r in ok if r.get(key) is not None]
        weight = sum(n for _, n in pairs)
        return round(sum(v * n for v, n in pairs) / weight, 4) if weight else None

    return {"file": "ALL", "languages": "", "lines": lines, "in_slot_percent": weighted("in_slot_percent"),
            "tempo_mean": weighted("tempo_mean"), "tempo_p95": max((r["tempo_p95"] or 0 for r in ok), default=None),
            "mean_cer": weighted("mean_cer"), "mean_similarity": weighted("mean_similarity"),
            "flagged": sum(r.get("flagged") or 0 for r in ok), "rtf": weighted("rtf"),
            "seconds": round(sum(r.get("seconds") or 0 for r in rows), 1),
            "error": f"{len(rows) - len(ok)} failed" if len(ok) < len(rows) else None}


def print_table(rows: list[dict[str, Any]], console: Any = None, title: str = "polydub eval") -> None:
    from rich.console import Console
    from rich.table import Table

    console = console or Console()
    table = Table(title=title)
    headers = {"in_slot_percent": "% in slot", "tempo_mean": "tempo mean", "tempo_p95": "tempo p95",
               "mean_cer": "CER", "mean_similarity": "similarity"}
    for col in COLUMNS:
        table.add_column(headers.get(col, col), justify="right" if col not in {"file", "languages", "mt", "tts",
                                                                                "error"} else "left")
    for row in rows:
        digits = {"in_slot_percent": 1, "rtf": 2}
        table.add_row(*[_cell(row.get(col), digits.get(col, 3)) for col in COLUMNS])
    console.print(table)
