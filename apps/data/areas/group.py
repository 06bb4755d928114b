"""Group: Redis sets."""

from ..operations import Area, ListKeys

area = Area("group", redis_type="set")
area.add(ListKeys("set"))
