"""Rank: Redis sorted sets."""

from ..operations import Area, ListKeys

area = Area("rank", redis_type="zset")
area.add(ListKeys("zset"))
