"""Fair job queues, leases and fencing in the inference Redis, each step one Lua script.

Keys (all in the inference Redis):

- ``redgx:job:{req_id}``: the job hash (see jobs.py).
- ``redgx:q:{task}:{namespace}``: req_ids of the namespace's queued jobs, oldest first.
- ``redgx:ring:{task}``: namespaces with a non-empty list, in turn order. A take pops the
  head namespace, takes one job from its list, and puts the namespace back at the tail if
  its list is not empty, so each namespace gets one job per turn however many it queued.
- ``redgx:leases:{task}``: ZSET of processing req_ids by lease end (Unix seconds).
- ``redgx:delayed:{task}``: ZSET of req_ids waiting out a retry backoff, by due time.
- ``redgx:deadlines``: ZSET of unfinished req_ids by deadline.

Invariant kept by every script: a namespace is in the ring exactly when its list is not
empty. Processing jobs carry a random ``lease_token``; complete, fail, retry and release
succeed only with the current token, so the answer of an attempt whose lease expired, or
whose job was cancelled, is discarded.
"""

import secrets
import time
from dataclasses import dataclass

from redis.commands.core import Script

from apps.core.redis import inference_redis

FINISHED_COUNTER_KEY = "redgx:jobs:finished"
DEADLINES_KEY = "redgx:deadlines"


def job_key(req_id: str) -> str:
    return f"redgx:job:{req_id}"


def queue_key(task: str, namespace: str) -> str:
    return f"redgx:q:{task}:{namespace}"


def ring_key(task: str) -> str:
    return f"redgx:ring:{task}"


def leases_key(task: str) -> str:
    return f"redgx:leases:{task}"


def delayed_key(task: str) -> str:
    return f"redgx:delayed:{task}"


# Shared Lua helpers. Keys are built inside the scripts from the job's task and namespace,
# which a Redis Cluster would reject.
# NOTE: fine for the single inference Redis this project runs; a cluster needs hash tags.
_LUA_HELPERS = """
local function jkey(id) return 'redgx:job:' .. id end
local function qkey(task, ns) return 'redgx:q:' .. task .. ':' .. ns end
local function push(task, ns, id, at_head)
  local n
  if at_head then
    n = redis.call('LPUSH', qkey(task, ns), id)
  else
    n = redis.call('RPUSH', qkey(task, ns), id)
  end
  if n == 1 then redis.call('RPUSH', 'redgx:ring:' .. task, ns) end
end
local function unqueue(task, ns, id)
  local q = qkey(task, ns)
  if redis.call('LREM', q, 0, id) > 0 and redis.call('LLEN', q) == 0 then
    redis.call('LREM', 'redgx:ring:' .. task, 0, ns)
  end
  redis.call('ZREM', 'redgx:delayed:' .. task, id)
end
local function depth(task)
  local total = redis.call('ZCARD', 'redgx:delayed:' .. task)
  for _, ns in ipairs(redis.call('LRANGE', 'redgx:ring:' .. task, 0, -1)) do
    total = total + redis.call('LLEN', qkey(task, ns))
  end
  return total
end
local function promote_due(task, now)
  local due = redis.call('ZRANGEBYSCORE', 'redgx:delayed:' .. task, '-inf', now, 'LIMIT', 0, 100)
  for _, id in ipairs(due) do
    redis.call('ZREM', 'redgx:delayed:' .. task, id)
    local f = redis.call('HMGET', jkey(id), 'status', 'namespace')
    if f[1] == 'queued' then push(task, f[2], id, true) end
  end
end
"""

# ARGV: req_id, namespace, task, ttl_s, deadline_at, task limit, namespace limit (-1: none),
# then field/value pairs of the hash. Returns {1} when queued, or {0, 'task' or 'namespace',
# queued jobs} when that limit is reached. Checked and queued in one script, so concurrent
# submits cannot overshoot a limit.
_ENQUEUE = (
    _LUA_HELPERS
    + """
local id, ns, task = ARGV[1], ARGV[2], ARGV[3]
local task_limit, ns_limit = tonumber(ARGV[6]), tonumber(ARGV[7])
if task_limit >= 0 then
  local total = depth(task)
  if total >= task_limit then return {0, 'task', total} end
end
if ns_limit >= 0 then
  local queued = redis.call('LLEN', qkey(task, ns))
  if queued >= ns_limit then return {0, 'namespace', queued} end
end
redis.call('HSET', jkey(id), unpack(ARGV, 8))
redis.call('EXPIRE', jkey(id), ARGV[4])
push(task, ns, id, false)
redis.call('ZADD', 'redgx:deadlines', ARGV[5], id)
return {1}
"""
)

# ARGV: task, now, lease_s, token, max_scan. Returns {req_id or '', {expired req_ids}}.
# Jobs past their deadline are taken off the list and returned for the caller to fail;
# if the caller dies first, the deadline sweep fails them.
_TAKE = (
    _LUA_HELPERS
    + """
local task, now, lease, token = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4]
local ring = 'redgx:ring:' .. task
promote_due(task, now)
local expired = {}
for _ = 1, tonumber(ARGV[5]) do
  local ns = redis.call('LPOP', ring)
  if not ns then break end
  local q = qkey(task, ns)
  local id = redis.call('LPOP', q)
  if redis.call('LLEN', q) > 0 then redis.call('RPUSH', ring, ns) end
  if id then
    local k = jkey(id)
    local f = redis.call('HMGET', k, 'status', 'deadline_at', 'retries', 'started_at')
    if f[1] == 'queued' then
      if f[2] and tonumber(f[2]) <= now then
        table.insert(expired, id)
      else
        redis.call('HSET', k, 'status', 'processing', 'lease_token', token,
          'leased_until', now + lease, 'taken_at', now, 'attempts', tonumber(f[3] or '0') + 1)
        if not f[4] then redis.call('HSET', k, 'started_at', now) end
        redis.call('HINCRBY', k, 'deliveries', 1)
        redis.call('ZADD', 'redgx:leases:' .. task, now + lease, id)
        return {id, expired}
      end
    end
  end
end
return {'', expired}
"""
)

# ARGV: until, then req_id/token pairs. Returns 1 per pair whose lease it extended, 0 for
# a job that is no longer this holder's (cancelled, finished, or its lease expired).
_EXTEND = """
local till = ARGV[1]
local out = {}
for i = 2, #ARGV, 2 do
  local k = 'redgx:job:' .. ARGV[i]
  local f = redis.call('HMGET', k, 'status', 'lease_token', 'task')
  if f[1] == 'processing' and f[2] == ARGV[i + 1] then
    redis.call('HSET', k, 'leased_until', till)
    redis.call('ZADD', 'redgx:leases:' .. f[3], till, ARGV[i])
    table.insert(out, 1)
  else
    table.insert(out, 0)
  end
end
return out
"""

# ARGV: req_id, token ('' for the system: cancel, deadline, delivery limit), ttl_s, then
# field/value pairs. Writes a final status once; returns {namespace, task} or 0.
_FINISH = (
    _LUA_HELPERS
    + """
local id, token = ARGV[1], ARGV[2]
local k = jkey(id)
local f = redis.call('HMGET', k, 'status', 'lease_token', 'task', 'namespace')
if not f[1] or f[1] == 'done' or f[1] == 'failed' then return 0 end
if token ~= '' and (f[1] ~= 'processing' or f[2] ~= token) then return 0 end
if f[1] == 'queued' then unqueue(f[3], f[4], id) end
redis.call('HSET', k, unpack(ARGV, 4))
redis.call('HDEL', k, 'lease_token', 'leased_until')
redis.call('EXPIRE', k, ARGV[3])
redis.call('ZREM', 'redgx:leases:' .. f[3], id)
redis.call('ZREM', 'redgx:deadlines', id)
redis.call('INCR', 'redgx:jobs:finished')
return {f[4], f[3]}
"""
)

# ARGV: req_id, token, ready_at, max_attempts, last_error. Returns 1 when the job went to
# the delayed set, 0 when it used its last attempt (the caller fails it), -1 when fenced out.
_RETRY = """
local id, token = ARGV[1], ARGV[2]
local k = 'redgx:job:' .. id
local f = redis.call('HMGET', k, 'status', 'lease_token', 'retries', 'task')
if f[1] ~= 'processing' or f[2] ~= token then return -1 end
local retries = tonumber(f[3] or '0') + 1
if retries >= tonumber(ARGV[4]) then return 0 end
redis.call('HSET', k, 'status', 'queued', 'retries', retries, 'last_error', ARGV[5])
redis.call('HDEL', k, 'lease_token', 'leased_until')
redis.call('ZREM', 'redgx:leases:' .. f[4], id)
redis.call('ZADD', 'redgx:delayed:' .. f[4], ARGV[3], id)
return 1
"""

# ARGV: req_id, token. Puts a taken job back at the head of its list without spending a
# delivery or an attempt (its engine's circuit is open). Returns 1, or 0 when fenced out.
_RELEASE = (
    _LUA_HELPERS
    + """
local id, token = ARGV[1], ARGV[2]
local k = jkey(id)
local f = redis.call('HMGET', k, 'status', 'lease_token', 'task', 'namespace')
if f[1] ~= 'processing' or f[2] ~= token then return 0 end
redis.call('HSET', k, 'status', 'queued')
redis.call('HDEL', k, 'lease_token', 'leased_until')
redis.call('HINCRBY', k, 'deliveries', -1)
redis.call('ZREM', 'redgx:leases:' .. f[3], id)
push(f[3], f[4], id, true)
return 1
"""
)

# ARGV: task, now, max_lost, limit. Requeues jobs whose lease expired at the head of their
# list. Returns {{requeued req_ids}, {req_ids past the lost-delivery limit}}; the caller
# fails the second list.
_REQUEUE_EXPIRED = (
    _LUA_HELPERS
    + """
local task, now, max_lost = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local leases = 'redgx:leases:' .. task
local requeued, over = {}, {}
for _, id in ipairs(redis.call('ZRANGEBYSCORE', leases, '-inf', now, 'LIMIT', 0, tonumber(ARGV[4]))) do
  local k = jkey(id)
  local f = redis.call('HMGET', k, 'status', 'leased_until', 'lost_deliveries', 'namespace')
  if f[1] ~= 'processing' then
    redis.call('ZREM', leases, id)
  elseif tonumber(f[2]) > now then
    redis.call('ZADD', leases, f[2], id)
  else
    local lost = redis.call('HINCRBY', k, 'lost_deliveries', 1)
    if lost >= max_lost then
      redis.call('HDEL', k, 'lease_token')
      table.insert(over, id)
    else
      redis.call('HSET', k, 'status', 'queued')
      redis.call('HDEL', k, 'lease_token', 'leased_until')
      redis.call('ZREM', leases, id)
      push(task, f[4], id, true)
      table.insert(requeued, id)
    end
  end
end
return {requeued, over}
"""
)

# ARGV: now, limit. Takes queued jobs past their deadline off their lists and returns them
# for the caller to fail. A processing job is rechecked when its lease ends, because its
# engine call already left; finished or vanished jobs leave the set.
_DUE_DEADLINES = (
    _LUA_HELPERS
    + """
local now = tonumber(ARGV[1])
local due = {}
for _, id in ipairs(redis.call('ZRANGEBYSCORE', 'redgx:deadlines', '-inf', now, 'LIMIT', 0, tonumber(ARGV[2]))) do
  local f = redis.call('HMGET', jkey(id), 'status', 'task', 'namespace', 'leased_until')
  if f[1] == 'queued' then
    unqueue(f[2], f[3], id)
    table.insert(due, id)
  elseif f[1] == 'processing' and f[4] then
    redis.call('ZADD', 'redgx:deadlines', tonumber(f[4]) + 1, id)
  elseif f[1] == 'processing' then
    table.insert(due, id)
  else
    redis.call('ZREM', 'redgx:deadlines', id)
  end
end
return due
"""
)

# ARGV: task. Returns the number of queued jobs of the task: listed plus delayed.
_DEPTH = _LUA_HELPERS + "return depth(ARGV[1])"

_scripts: dict[str, Script] = {}


def _run(script: str, args: list):
    # Script objects call EVALSHA and load the script only when Redis lacks it.
    if script not in _scripts:
        _scripts[script] = inference_redis().register_script(script)
    return _scripts[script](keys=[], args=args)


def _decode(values) -> list[str]:
    return [value.decode() for value in values]


def _flatten(fields: dict) -> list:
    return [item for pair in fields.items() for item in pair]


def new_lease_token() -> str:
    return secrets.token_hex(16)


@dataclass(frozen=True)
class QueueLimits:
    """Maximum queued jobs of a task, and of one namespace within it; None for no limit."""

    task: int | None = None
    namespace: int | None = None


NO_LIMITS = QueueLimits()


class QueueFullError(Exception):
    """A submit found a queue at its limit; ``scope`` is "task" or "namespace"."""

    def __init__(self, scope: str, depth: int, limit: int):
        super().__init__(f"{scope} queue holds {depth} jobs, the limit is {limit}")
        self.scope, self.depth, self.limit = scope, depth, limit


def enqueue(
    req_id: str, namespace: str, task: str, ttl_s: int, deadline_at: float, fields: dict, limits: QueueLimits
) -> None:
    """Store and queue a job; raise QueueFullError, storing nothing, when a limit is reached."""
    task_limit = -1 if limits.task is None else limits.task
    namespace_limit = -1 if limits.namespace is None else limits.namespace
    args = [req_id, namespace, task, ttl_s, repr(deadline_at), task_limit, namespace_limit, *_flatten(fields)]
    reply = _run(_ENQUEUE, args)
    if not reply[0]:
        scope = reply[1].decode()
        raise QueueFullError(scope, int(reply[2]), task_limit if scope == "task" else namespace_limit)


def take(task: str, lease_s: float, *, max_scan: int = 50) -> tuple[str | None, str, list[str]]:
    """Take the next job in namespace turn order; return (req_id or None, lease token, expired req_ids)."""
    token = new_lease_token()
    req_id, expired = _run(_TAKE, [task, repr(time.time()), repr(lease_s), token, max_scan])
    return (req_id.decode() or None), token, _decode(expired)


def extend_leases(holders: list[tuple[str, str]], until: float) -> list[bool]:
    """Extend leases held as (req_id, token); False marks a job this holder no longer owns."""
    if not holders:
        return []
    flat = [value for holder in holders for value in holder]
    return [bool(flag) for flag in _run(_EXTEND, [repr(until), *flat])]


def finish(req_id: str, token: str | None, ttl_s: int, fields: dict) -> tuple[str, str] | None:
    """Write a final status once; with a token only while the job is leased under it."""
    written = _run(_FINISH, [req_id, token or "", ttl_s, *_flatten(fields)])
    if not written:
        return None
    namespace, task = _decode(written)
    return namespace, task


def retry_later(req_id: str, token: str, ready_at: float, max_attempts: int, last_error: str) -> int:
    """Put a leased job in the delayed set; 1 done, 0 attempts used up, -1 fenced out."""
    return int(_run(_RETRY, [req_id, token, repr(ready_at), max_attempts, last_error]))


def release(req_id: str, token: str) -> bool:
    """Return a leased job to the head of its list without spending a delivery or an attempt."""
    return bool(_run(_RELEASE, [req_id, token]))


def requeue_expired(task: str, max_lost: int, limit: int = 100) -> tuple[list[str], list[str]]:
    requeued, over = _run(_REQUEUE_EXPIRED, [task, repr(time.time()), max_lost, limit])
    return _decode(requeued), _decode(over)


def due_deadlines(limit: int = 100) -> list[str]:
    return _decode(_run(_DUE_DEADLINES, [repr(time.time()), limit]))


def promote_due(task: str) -> None:
    _run(_LUA_HELPERS + "promote_due(ARGV[1], tonumber(ARGV[2])) return 1", [task, repr(time.time())])


def queue_depth(task: str, namespace: str | None = None) -> int:
    """Count queued jobs (waiting or in retry backoff): of one namespace, or of the whole task.

    NOTE: a namespace's count leaves out its jobs in retry backoff.
    """
    if namespace is not None:
        return int(inference_redis().llen(queue_key(task, namespace)))
    return int(_run(_DEPTH, [task]))


def finished_count() -> int:
    """Count final statuses written since the inference Redis was last emptied."""
    return int(inference_redis().get(FINISHED_COUNTER_KEY) or 0)
