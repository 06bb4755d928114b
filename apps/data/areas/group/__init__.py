"""Group: Redis sets.

Members are binary-safe, so in a request they are in the request's ``?encoding=`` and
in a response they share one ``encoding`` (base64 for all when any is not valid UTF-8).
Operation names are the Redis commands without their leading S. The topic modules
register their operations on ``area`` when they are imported.
"""

from . import algebra, members
from .common import area

__all__ = ["algebra", "area", "members"]
