"""The packages depend down the pipeline only: a stage may use an earlier one, never a later one."""

from __future__ import annotations

import ast
from pathlib import Path

import polydub

# pipeline order; packages after `pipeline` are front ends built on it (live, avatar, server)
ORDER = ["media", "separation", "speech", "speakers", "translation", "voice", "timing", "mix", "quality", "face",
         "render", "pipeline", "live", "avatar", "server"]


def test_no_stage_imports_a_later_one():
    root = Path(polydub.__file__).parent
    rank = {name: i for i, name in enumerate(ORDER)}
    assert {p.name for p in root.iterdir() if (p / "__init__.py").exists()} <= set(ORDER)
    upward = []
    for path in root.rglob("*.py"):
        package = path.relative_to(root).parts[0]
        if package not in rank:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [node.module] if isinstance(node, ast.ImportFrom) and node.module else \
                [a.name for a in node.names] if isinstance(node, ast.Import) else []
            for name in names:
                parts = name.split(".")
                if parts[0] == "polydub" and len(parts) > 1 and rank.get(parts[1], -1) > rank[package]:
                    upward.append(f"{path.relative_to(root)} imports {name}")
    assert not upward, "\n".join(upward)
