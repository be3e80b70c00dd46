"""The speakers section of report.html: the voice each speaker got, where it came from (their
profile, matching, or a voice evolved for them) and, for cloned voices, the search's own figures."""

from __future__ import annotations

import html
from typing import Any

SOURCES = {"evolved": "evolved for this speaker (clone)", "matched": "closest stock voice",
           "profile": "their voice profile", "user": "chosen by you", "default": "language default"}


def _fmt(value: Any, digits: int = 3) -> str:
    from polydub.quality.html_report import _fmt as fmt  # the report's own number format (imports this module)

    return fmt(value, digits)


def _clone_note(clone: dict | None, profile: str | None) -> str:
    """One cell that says what the voice search did (or why it did not run)."""
    if not clone:
        return ""
    if clone.get("skipped"):
        return f'<span class="muted">not cloned: {html.escape(str(clone["skipped"]))}</span>'
    figures = (f"similarity {_fmt(clone.get('similarity_evolved'))} vs stock {_fmt(clone.get('similarity_stock'))} "
               f"({html.escape(str(clone.get('stock_voice') or '?'))}); CER {_fmt(clone.get('cer_evolved'))} vs "
               f"{_fmt(clone.get('cer_stock'))}")
    if clone.get("reused"):
        return f"reused from profile {html.escape(str(clone.get('profile') or profile or '?'))}: {figures}"
    cost = f"{_fmt(clone.get('search_seconds'), 1)} s, {_fmt(clone.get('syntheses'))} syntheses"
    if clone.get("voice_source") == "matched":
        reason = html.escape(str(clone.get("reason") or "no candidate beat the stock voice"))
        return f'<span class="muted">searched ({cost}), kept the stock voice: {reason}</span>'
    return f"{figures}; search {cost}"


def speakers_html(report: dict) -> str:
    speakers = report.get("speakers") or {}
    if not isinstance(speakers, dict) or not speakers:
        return ""
    rows = []
    for spk, info in sorted(speakers.items()):
        if not isinstance(info, dict):
            continue
        source = str(info.get("voice_source") or "")
        rows.append(f"<tr><td>{html.escape(str(spk))}</td><td>{html.escape(str(info.get('voice') or '–'))}</td>"
                    f"<td>{html.escape(SOURCES.get(source, source or '–'))}</td>"
                    f"<td>{html.escape(str(info.get('profile') or '–'))}</td>"
                    f"<td class=num>{_fmt(info.get('seconds'), 1)}</td>"
                    f"<td>{_clone_note(info.get('clone'), info.get('profile'))}</td></tr>")
    if not rows:
        return ""
    head = ("<tr><th>speaker</th><th>voice</th><th>voice from</th><th>profile</th><th>speech s</th>"
            "<th>voice cloning</th></tr>")
    return f"<h2>Speakers and voices</h2><table>{head}{''.join(rows)}</table>"
