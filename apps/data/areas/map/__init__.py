"""Map: Redis hashes.

Field names are binary-safe in Redis, so they follow the same rule as values. In a
request they are in the request's ``?encoding=``, and in a response the field names and
values share one ``encoding``: base64 for all of them when any name or value is not
valid UTF-8.

Operation names are the Redis commands without their leading H, except ``hexists``,
because ``exists`` is the key command every area shares. The topic modules register
their operations on ``area`` when they are imported.
"""

from . import reads, writes
from .common import area

__all__ = ["area", "reads", "writes"]
