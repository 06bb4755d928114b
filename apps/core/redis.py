"""Connections to the two Redis roles.

The data role stores the namespaced keys of the data areas. The inference role
stores queues, the outbox and control messages. They may be one server or two.
Connection pools are owned by django-redis and shared by every thread of a process,
except the pool for blocking reads, whose socket timeout must outlast the block.

With REDGX_DATA_REDIS_CLUSTER the data role is a Redis Cluster instead, reached through
redis-py's RedisCluster from the node that REDGX_DATA_REDIS_URL names. Every key of a
namespace carries the namespace as its hash tag (apps/data/keys.py), so the keys of one
namespace share a slot and multi-key commands, pipelines and scripts run on one node.
"""

import os
import threading
from urllib.parse import urlsplit

from django.conf import settings
from django_redis import get_redis_connection
from redis import Redis
from redis.cluster import ClusterNode, RedisCluster

# Seconds a blocking read's socket waits beyond the block itself before it counts as hung.
BLOCKING_SOCKET_MARGIN_S = 5.0

_data_client: Redis | None = None
_blocking_client: tuple[int, Redis | RedisCluster] | None = None
_blocking_lock = threading.Lock()
# Cluster clients by purpose ("data", "blocking") and URL, with the process id that built
# them, because a forked process must not share the parent's sockets.
_cluster_clients: dict[tuple[str, str], tuple[int, RedisCluster]] = {}
_cluster_lock = threading.Lock()
# The keyless commands that the data areas and the Upstash-compatible API send. SCAN and
# KEYS reach the keys of one hash tag when they MATCH its prefix on the node of its slot.
_KEYLESS_COMMANDS = frozenset(["SCAN", "KEYS", "PING", "ECHO", "TIME"])


def _without_callbacks(client: Redis) -> Redis:
    # redis-py reshapes some replies (SET to a bool, HGETALL to a dict) only when it
    # has the options a command was sent with. The data areas build raw commands and
    # shape the replies themselves, so their clients keep Redis's replies as they are.
    client.response_callbacks.clear()
    return client


def _raw_cluster(**options) -> RedisCluster:
    """Build a RedisCluster client of the data role that returns Redis's replies unconverted.

    RedisCluster reshapes replies at three levels: each node's own client, its cluster
    response callbacks, and its result callbacks, which merge the replies of several
    nodes. The first two are emptied, and node clients that a later topology refresh
    creates are emptied as they are created. Of the result callbacks, those of the
    keyless commands that the gateway sends to one node are removed, because SCAN would
    become a dict of cursors per node and PING a bool. SCRIPT LOAD and the other fan-out
    commands keep theirs.
    """
    client = RedisCluster.from_url(
        settings.REDGX_DATA_REDIS_URL,
        socket_connect_timeout=2.0,
        health_check_interval=30,
        protocol=settings.REDGX_DATA_REDIS_PROTOCOL,
        **options,
    )
    client.cluster_response_callbacks.clear()
    for command in _KEYLESS_COMMANDS:
        client.result_callbacks.pop(command, None)
    for node in client.get_nodes():
        if node.redis_connection is not None:
            _without_callbacks(node.redis_connection)
    # NOTE: NodesManager.create_redis_node is internal to redis-py (read in 8.2.0). Check
    # that node clients still come from it when upgrading redis-py.
    create_node_client = client.nodes_manager.create_redis_node

    def create_raw_node_client(*args, **kwargs) -> Redis:
        return _without_callbacks(create_node_client(*args, **kwargs))

    client.nodes_manager.create_redis_node = create_raw_node_client
    return client


def _cluster_client(purpose: str, **options) -> RedisCluster:
    with _cluster_lock:
        cache_key = (purpose, settings.REDGX_DATA_REDIS_URL)
        cached = _cluster_clients.get(cache_key)
        if cached is None or cached[0] != os.getpid():
            cached = (os.getpid(), _raw_cluster(**options))
            _cluster_clients[cache_key] = cached
        return cached[1]


def data_redis() -> Redis | RedisCluster:
    """A client of the data role that returns Redis's replies unconverted."""
    global _data_client
    if settings.REDGX_DATA_REDIS_CLUSTER:
        return _cluster_client("data", socket_timeout=settings.REDGX_REDIS_SOCKET_TIMEOUT_S, max_connections=200)
    pool = get_redis_connection("data").connection_pool
    if _data_client is None or _data_client.connection_pool is not pool:
        _data_client = _without_callbacks(Redis(connection_pool=pool))
    return _data_client


def blocking_data_redis() -> Redis | RedisCluster:
    """Return a data-role client for blocking commands, with a socket timeout longer than any block."""
    global _blocking_client
    if settings.REDGX_DATA_REDIS_CLUSTER:
        return _cluster_client(
            "blocking",
            socket_timeout=settings.REDGX_MAX_BLOCK_MS / 1000 + BLOCKING_SOCKET_MARGIN_S,
            max_connections=settings.REDGX_MAX_BLOCKING_REQUESTS + 1,
        )
    with _blocking_lock:
        if _blocking_client is None or _blocking_client[0] != os.getpid():
            client = Redis.from_url(
                settings.REDGX_DATA_REDIS_URL,
                socket_timeout=settings.REDGX_MAX_BLOCK_MS / 1000 + BLOCKING_SOCKET_MARGIN_S,
                socket_connect_timeout=2.0,
                max_connections=settings.REDGX_MAX_BLOCKING_REQUESTS + 1,
                health_check_interval=30,
                protocol=settings.REDGX_DATA_REDIS_PROTOCOL,
            )
            _blocking_client = (os.getpid(), _without_callbacks(client))
        return _blocking_client[1]


def routing_options(client: Redis | RedisCluster, command: tuple | list, routing_key: str) -> dict:
    """Return the ``execute_command`` options that send a keyless ``command`` to ``routing_key``'s node.

    RedisCluster would send SCAN and KEYS to every primary and merge the replies, and
    rejects ECHO for want of a key. Sent to the node that holds ``routing_key``'s slot,
    SCAN and KEYS see every key that shares its hash tag, with that node's own cursor.
    Commands with keys, and every command of a standalone client, need no options.

    NOTE: while a slot migrates between nodes, its keys sit on both, and a SCAN sent to
    the slot's owner misses the keys not yet moved.
    """
    if not isinstance(client, RedisCluster):
        return {}
    name = command[0].decode() if isinstance(command[0], bytes) else str(command[0])
    if name.upper() not in _KEYLESS_COMMANDS:
        return {}
    return {"target_nodes": client.get_node_from_key(routing_key)}


def _url_node(client: RedisCluster) -> ClusterNode:
    """Return the cluster node that REDGX_DATA_REDIS_URL names, else the client's default node."""
    url = urlsplit(settings.REDGX_DATA_REDIS_URL)
    return client.get_node(host=url.hostname, port=url.port or 6379) or client.get_default_node()


def publish_data_message(channel: str, payload: bytes | str) -> int:
    """PUBLISH to the data role and return the number of subscribers that received it.

    In a cluster, PUBLISH reaches the subscribers of every node, but its reply counts only
    the subscribers of the node it was sent to. It goes to the node of REDGX_DATA_REDIS_URL,
    where the gateway's WebSocket processes subscribe, so the count includes them.
    """
    client = data_redis()
    if isinstance(client, RedisCluster):
        return client.execute_command("PUBLISH", channel, payload, target_nodes=_url_node(client))
    return client.publish(channel, payload)


def check_data_redis() -> None:
    """Raise if the data role cannot serve requests: no PING reply, or a cluster not in state ok."""
    client = data_redis()
    if not isinstance(client, RedisCluster):
        client.ping()
        return
    client.execute_command("PING", target_nodes=RedisCluster.PRIMARIES)
    info = client.execute_command("CLUSTER INFO")
    if b"cluster_state:ok" not in info:
        raise RuntimeError("the data Redis Cluster is not in state ok")


def inference_redis() -> Redis:
    return get_redis_connection("inference")
