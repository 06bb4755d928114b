"""Map: Redis hashes."""

from ..operations import Area, ListKeys

area = Area("map", redis_type="hash")
area.add(ListKeys("hash"))
