"""Serve the KV GET and PUT as a plain ASGI app on redis.asyncio, the bare floor for bench/serving.py.

It does the same Redis work as the gateway's KV view (GET and PTTL in one pipelined round trip,
or one SET) and returns the same JSON envelope, but it has no API key check, no Django and no DRF.
Its throughput is the upper bound that the full stack is compared against.

Run it with `uvicorn bench.floor_app:app`. It reads REDGX_DATA_REDIS_URL and stores keys under
the gateway's `ns:{<namespace>}:<key>` scheme (apps/data/keys.py), so the two servers read and
write the same keys.
"""

import json
import os
import re

import redis.asyncio

KV_PATH = re.compile(r"^/api/v1/ns/(?P<namespace>[^/]+)/kv/(?P<key>.+)$")
JSON_HEADERS = [(b"content-type", b"application/json")]

_client: redis.asyncio.Redis | None = None


def _encode(body: dict) -> bytes:
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()


def _error(code: str, message: str) -> dict:
    return {"ok": False, "error": {"code": code, "message": message}}


async def _send_json(send, status: int, body: dict) -> None:
    payload = _encode(body)
    headers = [*JSON_HEADERS, (b"content-length", str(len(payload)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})


async def _read_body(receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


async def _get_value(redis_key: str, key: str) -> tuple[int, dict]:
    async with _client.pipeline(transaction=False) as pipeline:
        pipeline.get(redis_key)
        pipeline.pttl(redis_key)
        raw, ttl_ms = await pipeline.execute()
    if raw is None:
        return 404, _error("key_not_found", f"Key '{key}' not found.")
    # The gateway returns base64 for values that are not UTF-8. The floor only serves text values.
    data = {"key": key, "value": raw.decode("utf-8"), "encoding": "utf-8", "ttl_ms": ttl_ms if ttl_ms >= 0 else None}
    return 200, {"ok": True, "data": data}


async def _set_value(redis_key: str, key: str, body: bytes) -> tuple[int, dict]:
    try:
        value = json.loads(body)["value"]
    except (ValueError, KeyError, TypeError):
        return 400, _error("invalid", 'The body must be a JSON object with a "value" string.')
    written = await _client.set(redis_key, value)
    return 200, {"ok": True, "data": {"key": key, "written": bool(written)}}


async def _lifespan(receive, send) -> None:
    global _client
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            url = os.environ.get("REDGX_DATA_REDIS_URL", "redis://127.0.0.1:6379/0")
            _client = redis.asyncio.Redis.from_url(url)
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await _client.aclose()
            await send({"type": "lifespan.shutdown.complete"})
            return


async def app(scope, receive, send) -> None:
    """Serve GET and PUT on /api/v1/ns/{namespace}/kv/{key}. Other requests get 404 or 405."""
    if scope["type"] == "lifespan":
        await _lifespan(receive, send)
        return

    match = KV_PATH.match(scope["path"])
    if match is None:
        await _send_json(send, 404, _error("route_not_found", "No API route matches this path."))
        return

    key = match["key"]
    redis_key = f"ns:{{{match['namespace']}}}:{key}"
    if scope["method"] == "GET":
        status, body = await _get_value(redis_key, key)
    elif scope["method"] == "PUT":
        status, body = await _set_value(redis_key, key, await _read_body(receive))
    else:
        status, body = 405, _error("method_not_allowed", f"Method {scope['method']} is not allowed.")
    await _send_json(send, status, body)
