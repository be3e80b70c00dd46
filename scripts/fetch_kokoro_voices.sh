#!/usr/bin/env bash
# Fetch the Kokoro v1.0 voice style tensors (voices/*.bin, float32 510x1x256, Apache-2.0).
# They ship in no PyPI package; the npm package kokoro-js has them. Idempotent: does nothing
# when the voices are already there.
#
# Usage: scripts/fetch_kokoro_voices.sh [DEST]
# DEST defaults to what polydub.paths.kokoro_voices_dir() returns: $POLYDUB_KOKORO_VOICES,
# else $POLYDUB_DATA_DIR/kokoro-voices, else <repo>/.venv/share/polydub/kokoro-voices
# (the venv's data dir), else ~/.local/share/polydub/kokoro-voices.
set -euo pipefail

VERSION="1.2.1"
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

if [[ $# -ge 1 && -n "$1" ]]; then
  DEST="$1"
elif [[ -n "${POLYDUB_KOKORO_VOICES:-}" ]]; then
  DEST="$POLYDUB_KOKORO_VOICES"
elif [[ -n "${POLYDUB_DATA_DIR:-}" ]]; then
  DEST="$POLYDUB_DATA_DIR/kokoro-voices"
elif [[ -n "${VIRTUAL_ENV:-}" ]]; then
  DEST="$VIRTUAL_ENV/share/polydub/kokoro-voices"
elif [[ -d "$REPO/.venv" ]]; then
  DEST="$REPO/.venv/share/polydub/kokoro-voices"
else
  DEST="$HOME/.local/share/polydub/kokoro-voices"
fi

# 54 voices in kokoro-js 1.2.1; a marker file records a complete extraction so that an
# interrupted run is redone rather than mistaken for success.
if [[ -f "$DEST/.kokoro-js-$VERSION" ]] && compgen -G "$DEST/*.bin" > /dev/null; then
  echo "kokoro voices already present in $DEST ($(ls "$DEST"/*.bin | wc -l) files)"
  exit 0
fi

command -v npm > /dev/null || { echo "npm is required (apt-get install npm)" >&2; exit 1; }

TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
(cd "$TMP" && npm pack --silent "kokoro-js@$VERSION" > /dev/null)
tar -xzf "$TMP"/kokoro-js-*.tgz -C "$TMP" package/voices
mkdir -p "$DEST"
count=0
for f in "$TMP"/package/voices/*.bin; do
  # A voice tensor is 510*1*256 float32 = 522240 bytes; refuse anything else.
  if [[ "$(stat -c %s "$f")" -ne 522240 ]]; then
    echo "unexpected size for $(basename "$f"), skipping" >&2
    continue
  fi
  cp "$f" "$DEST/"
  count=$((count + 1))
done
[[ $count -gt 0 ]] || { echo "no voices found in kokoro-js@$VERSION" >&2; exit 1; }
touch "$DEST/.kokoro-js-$VERSION"
echo "installed $count kokoro voices into $DEST"
