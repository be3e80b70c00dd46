"""Every bound on what a user may send, in one place: the CLI, the API (stated in its OpenAPI
schema as maxLength / maxItems / minimum / maximum) and the studio (character counters, from
``GET /api/limits``) all read these numbers.

Chosen from use, with room to spare: a dubbed line is one breath of speech (at most
``max_line_seconds`` = 8 s by default, ~25 characters a second at the fastest tempo), so a few
hundred characters; names and ids are short labels. A value past a limit is refused at once
(HTTP 413 for a body or field that is too large, 422 for a value out of range) instead of
keeping a worker busy.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field

# -- text ---------------------------------------------------------------------------------------
LINE_TEXT_CHARS = 1000  # one dub line, original or translation (typical: 20-200)
PREVIEW_TEXT_CHARS = 500  # a voice preview sentence
NAME_CHARS = 64  # speaker ids ("S1"), profile names ("Ana")
VOICE_ID_CHARS = 200  # "kokoro:am_adam@es~f0.95p180r1", "kokoro-evolved:Ana@es"
ENGINE_NAME_CHARS = 64  # "apertium", "qwen+apertium"
LANGUAGE_CHARS = 16  # "es", "pt-BR", "auto"
JOB_ID_CHARS = 64  # uuid4 hex is 32
AVATAR_TEXT_CHARS = 5000  # what one avatar video says (~5 minutes of speech)
LECTURE_TEXT_CHARS = 200_000  # a whole lecture (a 2-hour course is ~120 000 characters)
DESCRIPTION_CHARS = 1000  # an avatar's description
DELIMITER_CHARS = 32  # the slide delimiter of a lecture ("---")
PATH_CHARS = 4096  # a server path (the reference lecture route takes paths): PATH_MAX on Linux
# -- lists --------------------------------------------------------------------------------------
VOICES_PER_JOB = 32  # speaker -> voice entries in one job (diarization finds a handful)
CLONE_SAMPLES = 20  # recordings in one live create_voice_clone message
# -- bodies and uploads -------------------------------------------------------------------------
FORM_FIELD_BYTES = 16 * 1024  # one non-file field of a multipart upload (the voices JSON is the largest)
FORM_FIELDS = 32  # non-file fields in one upload
JSON_BODY_BYTES = 64 * 1024  # any request body that is not a file upload
LIVE_BINARY_BYTES = 1 << 20  # one live audio frame: 32 s of 16 kHz PCM; clients send 10-1000 ms
LIVE_TEXT_BYTES = 8 << 20  # one live JSON message (base64 voice samples for a clone are the largest)
# -- numbers ------------------------------------------------------------------------------------
ORIGINAL_VOICE_DB = (-60.0, 0.0)  # level of the original speech under a voice-over
TEMPO = (0.5, 2.0)  # slowest / fastest speech rate a dub may use
SPEAKERS = (1, 32)  # forced number of speakers
CLONE_BUDGET_S = (1.0, 3600.0)  # voice search time per speaker
AUDIO_TRACK = (0, 63)  # index of the input's audio track to dub (0 = first)

# Annotated types for pydantic models and FastAPI parameters: the bound shows in the schema.
LineText = Annotated[str, Field(max_length=LINE_TEXT_CHARS)]
PreviewText = Annotated[str, Field(max_length=PREVIEW_TEXT_CHARS)]
Name = Annotated[str, Field(min_length=1, max_length=NAME_CHARS)]
VoiceId = Annotated[str, Field(max_length=VOICE_ID_CHARS)]
EngineName = Annotated[str, Field(max_length=ENGINE_NAME_CHARS)]
LanguageCode = Annotated[str, Field(max_length=LANGUAGE_CHARS)]
JobId = Annotated[str, Field(max_length=JOB_ID_CHARS)]
AvatarText = Annotated[str, Field(min_length=1, max_length=AVATAR_TEXT_CHARS)]
Description = Annotated[str, Field(max_length=DESCRIPTION_CHARS)]
ServerPath = Annotated[str, Field(max_length=PATH_CHARS)]


def as_dict() -> dict[str, Any]:
    """Every limit by name (``GET /api/limits``; the studio's counters use it)."""
    return {name.lower(): (list(value) if isinstance(value, tuple) else value)
            for name, value in globals().items()
            if name.isupper() and isinstance(value, (int, float, tuple))}


def check_range(name: str, value: float | None, bounds: tuple[float, float], unit: str = "") -> None:
    """PolydubError when ``value`` (None: not set) is outside ``bounds`` (inclusive)."""
    from polydub.errors import PolydubError

    if value is None:
        return
    low, high = bounds
    if not low <= value <= high:
        raise PolydubError(f"{name} must be between {low:g} and {high:g}{unit}, got {value:g}",
                           f"choose a value from {low:g} to {high:g}")


def check_length(name: str, value: str | None, limit: int) -> None:
    from polydub.errors import PolydubError

    if value is not None and len(value) > limit:
        raise PolydubError(f"{name} is {len(value)} characters long; the limit is {limit}",
                           "shorten it")
