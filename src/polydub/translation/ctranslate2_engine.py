"""User-supplied CTranslate2 model folder (e.g. an opus-mt model run through ct2-transformers-converter).

Configured by env: POLYDUB_CT2_MODEL_DIR=/path/to/folder, POLYDUB_CT2_PAIRS="en-de,en-fr"
(a multi-target opus-mt model wants a ">>de<<" source prefix: POLYDUB_CT2_PREFIX=">>{tgt}<< ")."""

from __future__ import annotations

import importlib.util
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from polydub.errors import EngineNotInstalledError, UnsupportedLanguageError
from polydub.languages import normalize_language
from polydub.translation.base import TIER_GOOD, Translator
from polydub.translation.text import run_nonempty

_LOCK = threading.Lock()
_LOADED: dict[str, tuple[Any, Any]] = {}  # folder -> (ctranslate2.Translator, tokenizer)


def parse_pairs(spec: str) -> set[tuple[str, str]]:
    pairs = set()
    for item in spec.replace(" ", "").split(","):
        if "-" in item:
            src, tgt = item.split("-", 1)
            pairs.add((normalize_language(src), normalize_language(tgt)))
    return pairs


class _SentencePieceTokenizer:
    """Fallback when transformers is absent: Marian folders ship source.spm / target.spm."""

    def __init__(self, folder: Path) -> None:
        import sentencepiece as spm

        self.src = spm.SentencePieceProcessor(model_file=str(folder / "source.spm"))
        target = folder / "target.spm"
        self.tgt = spm.SentencePieceProcessor(model_file=str(target if target.exists() else folder / "source.spm"))

    def encode(self, text: str) -> list[str]:
        return list(self.src.encode(text, out_type=str)) + ["</s>"]

    def decode(self, tokens: list[str]) -> str:
        return str(self.tgt.decode([t for t in tokens if t != "</s>"]))


class _HFTokenizer:
    def __init__(self, folder: Path) -> None:
        from transformers import AutoTokenizer

        self.tok = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)

    def encode(self, text: str) -> list[str]:
        return list(self.tok.convert_ids_to_tokens(self.tok.encode(text)))

    def decode(self, tokens: list[str]) -> str:
        return str(self.tok.decode(self.tok.convert_tokens_to_ids(tokens), skip_special_tokens=True))


class CTranslate2Translator(Translator):
    name = "ctranslate2"
    licence = "MIT (CTranslate2); model licence as supplied by the user"
    description = "Your own CTranslate2 model folder (POLYDUB_CT2_MODEL_DIR, POLYDUB_CT2_PAIRS)"

    def __init__(self, folder: str | Path | None = None, pairs: str | None = None) -> None:
        env_dir = os.environ.get("POLYDUB_CT2_MODEL_DIR", "")
        self.folder = Path(folder) if folder else (Path(env_dir) if env_dir else None)
        self._pairs = parse_pairs(pairs if pairs is not None else os.environ.get("POLYDUB_CT2_PAIRS", ""))
        self.prefix = os.environ.get("POLYDUB_CT2_PREFIX", "")

    def is_available(self) -> bool:
        return (self.folder is not None and (self.folder / "model.bin").exists() and bool(self._pairs)
                and importlib.util.find_spec("ctranslate2") is not None
                and (importlib.util.find_spec("transformers") is not None
                     or importlib.util.find_spec("sentencepiece") is not None))

    def pairs(self) -> set[tuple[str, str]]:
        return set(self._pairs)

    def tier(self, source: str, target: str) -> int:
        return TIER_GOOD

    def install_hint(self) -> str:
        return ("convert a model with ct2-transformers-converter, then set POLYDUB_CT2_MODEL_DIR and "
                "POLYDUB_CT2_PAIRS=en-de (needs transformers or sentencepiece)")

    def _load(self) -> tuple[Any, Any]:
        assert self.folder is not None
        key = str(self.folder)
        with _LOCK:
            if key not in _LOADED:
                import ctranslate2

                tok: Any
                if importlib.util.find_spec("transformers") is not None:
                    tok = _HFTokenizer(self.folder)
                else:
                    tok = _SentencePieceTokenizer(self.folder)
                threads = int(os.environ.get("POLYDUB_CT2_THREADS", "2"))
                model = ctranslate2.Translator(key, device="cpu", compute_type="int8", intra_threads=threads)
                _LOADED[key] = (model, tok)
            return _LOADED[key]

    def translate(self, lines: Sequence[str], source: str, target: str) -> list[str]:
        if (source, target) not in self._pairs:
            raise UnsupportedLanguageError(f"the CTranslate2 model is not set up for {source}->{target}",
                                           "list the pair in POLYDUB_CT2_PAIRS")
        if not self.is_available():
            raise EngineNotInstalledError("no CTranslate2 model folder configured", self.install_hint())
        model, tok = self._load()
        prefix = self.prefix.format(src=source, tgt=target)

        def batch(chunk: list[str]) -> list[str]:
            tokens = [tok.encode(prefix + line) for line in chunk]
            results = model.translate_batch(tokens, beam_size=2, max_decoding_length=256)
            return [tok.decode(r.hypotheses[0]) for r in results]

        return run_nonempty(lines, batch, batch_size=32)
