"""Text hygiene shared by the engines: one line in, one line out, empty stays empty."""

from __future__ import annotations

from collections.abc import Callable, Sequence


def clean_line(line: str) -> str:
    """Collapse internal newlines and runs of spaces: engines treat a newline as a line break."""
    return " ".join(line.split())


def match_initial_case(source: str, text: str) -> str:
    """Keep a lowercase start lowercase: rule engines capitalise every 'sentence' they see,
    which is wrong for subtitle lines that continue the previous one."""
    src = next((c for c in source if c.isalpha()), "")
    for i, ch in enumerate(text):
        if ch.isalpha():
            if src and src.islower() and ch.isupper():
                return text[:i] + ch.lower() + text[i + 1:]
            return text
    return text


def run_nonempty(lines: Sequence[str], translate: Callable[[list[str]], list[str]],
                 batch_size: int = 0) -> list[str]:
    """Send only non-blank lines to `translate` (in batches when batch_size > 0) and put the
    results back at their positions; raises if an engine breaks the one-to-one contract."""
    out = ["" for _ in lines]
    index = [i for i, line in enumerate(lines) if line and line.strip()]
    if not index:
        return out
    todo = [clean_line(lines[i]) for i in index]
    size = batch_size if batch_size > 0 else len(todo)
    done: list[str] = []
    for start in range(0, len(todo), size):
        chunk = todo[start:start + size]
        result = translate(chunk)
        if len(result) != len(chunk):
            raise RuntimeError(f"translation engine returned {len(result)} lines for {len(chunk)}")
        done.extend(result)
    for i, text in zip(index, done, strict=True):
        out[i] = text.strip()
    return out
