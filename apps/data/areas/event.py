"""Event: Redis streams with consumer groups."""

from ..operations import Area, ListKeys

area = Area("event", redis_type="stream")
area.add(ListKeys("stream"))
