"""Rank: Redis sorted sets.

The topic modules register their operations on ``area`` when they are imported.
"""

from . import members, ranges, sampling
from .common import area

__all__ = ["area", "members", "ranges", "sampling"]
