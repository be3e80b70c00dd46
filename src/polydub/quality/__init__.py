"""Closed-loop quality: per-line checks and repairs after synthesis, summaries and reports."""

from polydub.quality.checks import Thresholds

__all__ = ["Thresholds"]
