"""The data areas, each mapping to one Redis type."""

from . import event, group, kv, map, queue, rank
from .generic import add_generic_operations

AREAS = {area.name: area for area in [kv.area, map.area, queue.area, group.area, rank.area, event.area]}
for _area in AREAS.values():
    add_generic_operations(_area)
