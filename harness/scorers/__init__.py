"""Scorers: build one by name with :func:`get_scorer`; each returns a :class:`ScoreValue`."""

from harness.scorers.base import Scorer, ScoreValue
from harness.scorers.registry import available_scorers, get_scorer

__all__ = ["ScoreValue", "Scorer", "available_scorers", "get_scorer"]
