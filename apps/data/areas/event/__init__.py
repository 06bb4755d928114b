"""Event: Redis streams with consumer groups.

The topic modules register their operations on ``area`` when they are imported.
"""

from . import entries, groups, info, pending
from .common import area

__all__ = ["area", "entries", "groups", "info", "pending"]
