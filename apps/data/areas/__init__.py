"""The data areas, each mapping to one Redis type."""

from . import event, group, kv, map, queue, rank

AREAS = {area.name: area for area in [kv.area, map.area, queue.area, group.area, rank.area, event.area]}
