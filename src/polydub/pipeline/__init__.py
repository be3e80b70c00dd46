"""Public pipeline API: dub a file, re-render an edited project."""

from polydub.pipeline.dubber import Dubber, dub, rerender
from polydub.pipeline.options import DubOptions, ProgressEvent

__all__ = ["DubOptions", "Dubber", "ProgressEvent", "dub", "rerender"]
