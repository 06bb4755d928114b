"""Queue: Redis lists.

The topic modules register their operations on ``area`` when they are imported.
"""

from . import elements, ends
from .common import area

__all__ = ["area", "elements", "ends"]
