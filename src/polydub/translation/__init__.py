"""Machine translation: engines, chains through a pivot language, and the registry that picks one."""

from polydub.translation.base import TIER_BASIC, TIER_BEST, TIER_DRAFT, TIER_GOOD, TIER_NAMES, Translator
from polydub.translation.registry import TranslationRegistry, default_registry, translate_lines

__all__ = ["TIER_BASIC", "TIER_BEST", "TIER_DRAFT", "TIER_GOOD", "TIER_NAMES", "Translator",
           "TranslationRegistry", "default_registry", "translate_lines"]
