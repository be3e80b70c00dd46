"""Speech / background separation (speech stem is replaced by the dub, background is kept)."""

from polydub.separation.base import Separator, available_separators, default_separator, get_separator

__all__ = ["Separator", "available_separators", "default_separator", "get_separator"]
