"""Language codes (ISO 639-1) and their names."""

from __future__ import annotations

LANGUAGE_NAMES: dict[str, str] = {
    "en": "English", "es": "Spanish", "fr": "French", "de": "German", "it": "Italian",
    "pt": "Portuguese", "ru": "Russian", "ca": "Catalan", "gl": "Galician", "ro": "Romanian",
    "ja": "Japanese", "zh": "Chinese", "hi": "Hindi", "nl": "Dutch", "pl": "Polish",
    "uk": "Ukrainian", "tr": "Turkish", "ar": "Arabic", "ko": "Korean", "sv": "Swedish",
    "eo": "Esperanto", "eu": "Basque", "is": "Icelandic", "mk": "Macedonian", "cs": "Czech",
}


def language_name(code: str) -> str:
    return LANGUAGE_NAMES.get(code, code)


def normalize_language(code: str) -> str:
    """Accept 'pt-BR', 'PT', 'por' style inputs and return the two-letter code."""
    code = code.strip().lower().replace("_", "-")
    three = {"eng": "en", "spa": "es", "fra": "fr", "fre": "fr", "deu": "de", "ger": "de",
             "ita": "it", "por": "pt", "rus": "ru", "cat": "ca", "jpn": "ja", "zho": "zh"}
    code = three.get(code, code)
    return code.split("-")[0]
