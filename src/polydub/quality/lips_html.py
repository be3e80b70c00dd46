"""The lip-sync section of report.html: job scores, per-line status and before/after mouth crops."""

from __future__ import annotations

import base64
import html
from pathlib import Path
from typing import Any

LINE_FIELDS = (("lip_follow", "lip follow"), ("lip_follow_floor", "untouched"), ("gap_in_silence", "gap in silence"),
               ("gap_on_pbm", "gap on p/b/m"), ("jitter_ratio", "jitter ×"), ("held_back_frames", "held back"),
               ("flips", "flips"), ("untouched_psnr", "PSNR outside dB"))


def _fmt(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.3f}"
    return html.escape(str(value))


def _image(out_dir: Path | None, relative: str | None) -> str:
    if not relative or out_dir is None:
        return ""
    path = Path(out_dir) / relative
    if not path.is_file():
        return ""
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return f'<img alt="mouth before and after lip-sync" src="data:image/png;base64,{data}">'


def lipsync_html(report: dict, out_dir: Path | None) -> str:
    info = report.get("lipsync")
    if not info:
        return ""
    summary = info.get("summary") or {}
    rows = [("Engine", f"{_fmt(info.get('engine'))} — {_fmt(info.get('licence'))}"),
            ("Lines re-animated / untouched", f"{info.get('lines_lipsynced')} / {info.get('lines_untouched')}"),
            ("Frames changed",
             f"{info.get('frames_changed')} of {info.get('frames')} (x264 CRF {_fmt(info.get('crf'))})"),
            ("Mouth follows the dub (correlation)", f"{_fmt(summary.get('lip_follow'))} "
                                                   f"(untouched video: {_fmt(summary.get('lip_follow_floor'))})"),
            ("Mouth gap in dub silences / on p, b, m (face heights)",
             f"{_fmt(summary.get('gap_in_silence'))} / {_fmt(summary.get('gap_on_pbm'))}"),
            ("Jitter relative to the source", _fmt(summary.get("jitter_ratio"))),
            ("Frames held back by the flip guard / triangles flipped",
             f"{_fmt(summary.get('held_back_frames'))} / {_fmt(summary.get('flips'))}"),
            ("PSNR outside the face (changed frames / other frames)",
             f"{_fmt(summary.get('untouched_psnr'))} / {_fmt(summary.get('unchanged_frames_psnr'))} dB")]
    faces = "; ".join(f"face {k}: {html.escape(str(v.get('speaker') or 'nobody'))} ({html.escape(v.get('reason', ''))})"
                      for k, v in (info.get("faces") or {}).items()) or "no face found"
    rows.append(("Faces", faces))
    table = '<table class="stats">' + "".join(f"<tr><td>{k}</td><td>{v}</td></tr>" for k, v in rows) + "</table>"
    head = "<tr><th>#</th><th>speaker</th><th>status</th><th>face</th><th>confidence</th>" + \
        "".join(f"<th>{label}</th>" for _, label in LINE_FIELDS) + "</tr>"
    lines, strips = [], []
    for seg in report.get("segments") or []:
        lip = seg.get("lipsync")
        if not lip:
            continue
        status = html.escape(lip.get("status", ""))
        if lip.get("status") != "lipsync":
            status += f'<br><span class="muted">{html.escape(lip.get("reason") or "")}</span>'
        cells = "".join(f"<td class=num>{_fmt(lip.get(key))}</td>" for key, _ in LINE_FIELDS)
        lines.append(f"<tr><td class=num>{seg['id']}</td><td>{html.escape(str(seg.get('speaker')))}</td>"
                     f"<td>{status}</td><td class=num>{_fmt(lip.get('face_track'))}</td>"
                     f"<td class=num>{_fmt(lip.get('confidence'))}</td>{cells}</tr>")
        image = _image(out_dir, lip.get("crops"))
        if image:
            strips.append(f"<p>Line {seg['id']}</p>{image}")
    return (f"<h2>Lip-sync</h2>{table}<table>{head}{''.join(lines)}</table>"
            f"<h3>Mouths before (top) and after (bottom)</h3>{''.join(strips) or '<p class=muted>none</p>'}")
