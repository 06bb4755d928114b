"""The data areas, each mapping to one Redis type."""

from . import kv

AREAS = {area.name: area for area in [kv.area]}
