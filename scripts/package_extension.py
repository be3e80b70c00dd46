#!/usr/bin/env python3
"""Package the browser extension (extension/) as a zip for the Chrome Web Store or for side-loading.

The live client code is shared with the studio: src/polydub/server/static/live-client.js and
live-worklet.js are the originals; this script copies them into extension/lib/ first (`--check` only
verifies that the copies are current, as the tests do).

    python scripts/package_extension.py            # -> dist/polydub-live-extension-<version>.zip
    python scripts/package_extension.py --check
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
EXTENSION = REPO / "extension"
STATIC = REPO / "src" / "polydub" / "server" / "static"
SHARED = ("live-client.js", "live-worklet.js")


def stale_copies() -> list[str]:
    return [name for name in SHARED
            if not (EXTENSION / "lib" / name).exists()
            or (EXTENSION / "lib" / name).read_bytes() != (STATIC / name).read_bytes()]


def sync() -> None:
    (EXTENSION / "lib").mkdir(exist_ok=True)
    for name in SHARED:
        shutil.copyfile(STATIC / name, EXTENSION / "lib" / name)


def package(out_dir: Path) -> Path:
    manifest = json.loads((EXTENSION / "manifest.json").read_text("utf-8"))
    for key in ("manifest_version", "name", "version", "background", "action"):
        if key not in manifest:
            raise SystemExit(f"extension/manifest.json lacks {key!r}")
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / f"polydub-live-extension-{manifest['version']}.zip"
    partial = target.with_suffix(".zip.partial")
    with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(EXTENSION.rglob("*")):
            if path.is_file() and not path.name.startswith("."):
                zf.write(path, path.relative_to(EXTENSION).as_posix())
    partial.replace(target)
    return target


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--check", action="store_true", help="only check that extension/lib/ is up to date")
    ap.add_argument("-o", "--output", type=Path, default=REPO / "dist")
    args = ap.parse_args()
    if args.check:
        stale = stale_copies()
        if stale:
            print(f"extension/lib/ is out of date: {', '.join(stale)} (run scripts/package_extension.py)")
            return 1
        print("extension/lib/ is up to date")
        return 0
    sync()
    print(package(args.output))
    return 0


if __name__ == "__main__":
    sys.exit(main())
