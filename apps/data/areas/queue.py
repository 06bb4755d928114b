"""Queue: Redis lists."""

from ..operations import Area, ListKeys

area = Area("queue", redis_type="list")
area.add(ListKeys("list"))
