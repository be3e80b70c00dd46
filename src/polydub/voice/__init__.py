"""Text-to-speech: engines (kokoro, piper, festival, espeak) behind one registry."""

from polydub.voice.base import Capabilities, TTSEngine, Voice
from polydub.voice.registry import VoiceRegistry, get_registry

__all__ = ["Capabilities", "TTSEngine", "Voice", "VoiceRegistry", "get_registry"]
