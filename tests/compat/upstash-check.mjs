// Drives a running RedGX server through the @upstash/redis SDK, as a Node.js service would.
//
// Environment: UPSTASH_REDIS_REST_URL (a RedGX namespace base URL, such as
// http://127.0.0.1:8000/compat/upstash/ns/alpha), UPSTASH_REDIS_REST_TOKEN (a RedGX API key
// with read and write in that namespace) and REDGX_READ_ONLY_TOKEN (a key with read only).
// Prints one JSON line {"passed": n, "failed": [...]} and exits 1 when a check failed.
// tests/test_compat_sdk.py runs it against gunicorn and checks what it stored.

import assert from "node:assert/strict";
import { Redis } from "@upstash/redis";

const url = process.env.UPSTASH_REDIS_REST_URL;
const token = process.env.UPSTASH_REDIS_REST_TOKEN;
const readOnlyToken = process.env.REDGX_READ_ONLY_TOKEN;
const retry = { retries: 0 };

// The default client batches commands into POST /pipeline (auto-pipelining); the second
// sends each command to the base URL, so both request forms are exercised.
const pipelined = new Redis({ url, token, retry });
const single = new Redis({ url, token, retry, enableAutoPipelining: false });

const checks = {
  async strings() {
    assert.equal(await single.set("js:string", "hello from node", { ex: 100 }), "OK");
    assert.equal(await pipelined.get("js:string"), "hello from node");
    assert.equal(await single.incrby("js:counter", 5), 5);
    assert.deepEqual(await pipelined.mget("js:string", "js:missing"), ["hello from node", null]);
  },

  async hashes() {
    assert.equal(await single.hset("js:user", { name: "Ada", visits: 1 }), 2);
    assert.equal(await pipelined.hincrby("js:user", "visits", 2), 3);
    assert.deepEqual(await single.hgetall("js:user"), { name: "Ada", visits: 3 });
  },

  async lists() {
    assert.equal(await single.rpush("js:jobs", "a", "b"), 2);
    assert.deepEqual(await pipelined.lrange("js:jobs", 0, -1), ["a", "b"]);
    // The SDK has no blpop method; exec sends the raw command. The key comes back unprefixed.
    assert.deepEqual(await single.exec(["BLPOP", "js:empty", "js:jobs", "1"]), ["js:jobs", "a"]);
  },

  async sets() {
    await single.sadd("js:red", "apple", "cherry");
    await single.sadd("js:sweet", "cherry", "honey");
    assert.deepEqual(await pipelined.sinter("js:red", "js:sweet"), ["cherry"]);
    assert.equal(await single.sunionstore("js:both", "js:red", "js:sweet"), 3);
  },

  async sortedSets() {
    await single.zadd("js:board", { score: 10, member: "ann" }, { score: 20, member: "bob" });
    assert.deepEqual(await pipelined.zrange("js:board", 0, -1, { withScores: true }), ["ann", 10, "bob", 20]);
    assert.equal(await single.zincrby("js:board", 15, "ann"), 25);
    assert.equal(await pipelined.zrank("js:board", "bob"), 0);
  },

  async streams() {
    const first = await single.xadd("js:events", "*", { kind: "signup" });
    await single.xadd("js:events", "*", { kind: "login" });
    assert.equal(await single.xgroup("js:events", { type: "CREATE", group: "workers", id: "0" }), "OK");
    const read = await single.xreadgroup("workers", "w1", "js:events", ">", { count: 1 });
    assert.equal(read[0][0], "js:events");
    assert.equal(read[0][1][0][0], first);
    assert.equal(await single.xack("js:events", "workers", first), 1);
    assert.equal(await pipelined.xlen("js:events"), 2);
  },

  async pipeline() {
    const results = await single.pipeline().set("js:p", 1).incr("js:p").get("js:p").exec();
    assert.deepEqual(results, ["OK", 2, 2]);
  },

  async multiExec() {
    const results = await single.multi().set("js:balance", 100).decrby("js:balance", 30).get("js:balance").exec();
    assert.deepEqual(results, ["OK", 70, 70]);
  },

  async base64Values() {
    const text = "caf\u00e9 \u{1F600} \u0000";
    assert.equal(await single.set("js:blob", text), "OK");
    assert.equal(await pipelined.get("js:blob"), text);
  },

  async refusedCommand() {
    await assert.rejects(single.eval("return 1", [], []), /not allowed/);
  },

  async readOnlyKey() {
    const reader = new Redis({ url, token: readOnlyToken, retry, enableAutoPipelining: false });
    await assert.rejects(reader.set("js:reader", "x"), /NOPERM/);
    assert.equal(await reader.get("js:string"), "hello from node");
  },
};

const failed = [];
let passed = 0;
for (const [name, check] of Object.entries(checks)) {
  try {
    await check();
    passed += 1;
  } catch (error) {
    failed.push({ name, error: String(error?.stack ?? error) });
  }
}
console.log(JSON.stringify({ passed, failed }));
process.exit(failed.length ? 1 : 0);
