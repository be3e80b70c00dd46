"""User-facing errors: each says what is wrong and what to do about it."""

from __future__ import annotations


class PolydubError(Exception):
    """An error caused by input or environment, shown to the user as one line (no traceback)."""

    exit_code = 2

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message


class InputMediaError(PolydubError):
    """The input file is missing, empty, corrupt, not media, or has no audio."""


class NothingToDubError(PolydubError):
    """The input has audio but no speech in it."""


class UnsupportedLanguageError(PolydubError):
    """No installed engine covers the requested language or language pair."""


class EngineNotInstalledError(PolydubError):
    """A named engine is unknown or its runtime/weights are missing."""


class OutputError(PolydubError):
    """The output location cannot be written."""


class JobCancelledError(PolydubError):
    """A running job was cancelled by the user."""


class LicenceError(PolydubError):
    """A voice or engine was asked for that its licence does not allow in this mode (--commercial-safe)."""
