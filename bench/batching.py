"""Measure embed batching through the gateway against the MiniLM engine called directly.

Run it with `.venv/bin/python -m bench.batching`. It starts the reference engine
(deploy/engines/minilm/server.py in .venv-engine) on 127.0.0.1 and then measures:

1. direct: the engine alone, swept over batch sizes with bench/engine_tuning.py at 2 concurrent
   calls (the worker's default REDGX_EMBED_MAX_CONCURRENT_CALLS), then the best batch size
   again with all sentences.
2. gateway: 2,000 single-sentence embed requests from 64 concurrent clients through the web server
   (deploy/web.py: granian 2 x 3) and one Dramatiq worker, with the configured batch_size and max_wait_ms.
   Each client submits, waits for its job's final-status event on the namespace's `$jobs`
   Redis channel (the event the WebSocket push and the long-poll use), and submits the next.
3. gateway, batch_size 1: the same with one sentence per engine call.
4. idle: single requests on the idle gateway, one at a time, time from submit to the done
   event, against the job's engine time + max_wait_ms + 20 ms. Each request's time is split
   into stages from the wall-clock stamps that web and worker store in the job hash.

The inference Redis database of the benches is emptied before each gateway run. After each
gateway run every job is read back through the API and must be `done` with a
384-dimension vector. Targets: gateway sentences/s at least 90% of direct best-batch.
The exit status is 1 on a failure, 2 if a target was missed.
"""

import argparse
import json
import logging
import os
import statistics
import sys
import threading
import time
from types import SimpleNamespace

from bench import engine_tuning, serving, stack
from bench.serving import BenchError

NAMESPACE = serving.NAMESPACE
EMBED_PATH = f"/api/v1/ns/{NAMESPACE}/gpu/embed"
# apps.pubsub.names.redis_channel(NAMESPACE, "$jobs"), on the data Redis.
JOB_EVENTS_CHANNEL = f"ns:{NAMESPACE}:$jobs"
DIMENSIONS = 384
MIN_GATEWAY_SHARE = 0.9
IDLE_MARGIN_MS = 20
FINAL_STATUSES = {"done", "failed", "cancelled"}
JOB_TIMEOUT_S = 120
EXIT_TARGET_MISSED = 2

logger = logging.getLogger("bench.batching")


class JobEvents(threading.Thread):
    """Collects final-status events from the $jobs channel.

    For each req_id it keeps the status, and the time.monotonic() and time.time() of receipt.
    """

    def __init__(self):
        super().__init__(daemon=True)
        client = serving.redis.Redis.from_url(serving.BENCH_ENV["REDGX_DATA_REDIS_URL"])
        self.pubsub = client.pubsub(ignore_subscribe_messages=True)
        self.pubsub.subscribe(JOB_EVENTS_CHANNEL)
        self.final: dict[str, tuple[str, float, float]] = {}
        self.condition = threading.Condition()
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.is_set():
            message = self.pubsub.get_message(timeout=0.5)
            if message is None:
                continue
            received, received_wall = time.monotonic(), time.time()
            try:
                event = json.loads(message["data"])
            except (TypeError, ValueError):
                continue
            if event.get("status") in FINAL_STATUSES:
                with self.condition:
                    self.final[event["req_id"]] = (event["status"], received, received_wall)
                    self.condition.notify_all()

    def wait_for(self, req_id: str, timeout_s: float) -> tuple[str, float]:
        deadline = time.monotonic() + timeout_s
        with self.condition:
            while req_id not in self.final:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise BenchError(f"Job {req_id} reached no final status within {timeout_s} s")
                self.condition.wait(remaining)
            return self.final[req_id][:2]

    def received_wall_time(self, req_id: str) -> float:
        return self.final[req_id][2]

    def close(self) -> None:
        self.stopping.set()
        self.join(timeout=2)
        self.pubsub.close()


def submit(port: int, api_key: str, sentence: str) -> str:
    status, body = stack.api_request(port, "POST", EMBED_PATH, api_key, {"inputs": sentence})
    if status != 202:
        raise BenchError(f"Submit returned {status}: {str(body)[:300]}")
    return body["data"]["req_id"]


def check_jobs(port: int, api_key: str, req_ids: list[str]) -> dict:
    """Read every job through the API; raise unless all are done with one vector. Return the timings."""
    timings = {"queued_ms": [], "batch_wait_ms": [], "engine_ms": [], "total_ms": []}
    for req_id in req_ids:
        status, body = stack.api_request(port, "GET", f"{EMBED_PATH}/{req_id}", api_key)
        data = body.get("data", {})
        vectors = data.get("vectors") or []
        if status != 200 or data.get("status") != "done" or len(vectors) != 1 or len(vectors[0]) != DIMENSIONS:
            raise BenchError(f"Job {req_id} is not done with one {DIMENSIONS}-dimension vector: {str(body)[:300]}")
        for name in timings:
            if data["timing"].get(name) is not None:
                timings[name].append(data["timing"][name])
    return timings


def run_clients(port: int, api_key: str, sentences: list[str], clients: int, events: JobEvents) -> dict:
    """Send every sentence as its own job from `clients` threads; return the wall time and req_ids."""
    pending = iter(enumerate(sentences))
    lock = threading.Lock()
    req_ids: list[str] = [""] * len(sentences)
    latencies_ms: list[float] = []
    failures: list[str] = []

    def client() -> None:
        while not failures:
            with lock:
                item = next(pending, None)
            if item is None:
                return
            index, sentence = item
            try:
                started = time.monotonic()
                req_id = submit(port, api_key, sentence)
                status, finished = events.wait_for(req_id, JOB_TIMEOUT_S)
            except (BenchError, OSError) as exc:
                failures.append(str(exc))
                return
            if status != "done":
                failures.append(f"Job {req_id} ended {status}")
                return
            with lock:
                req_ids[index] = req_id
                latencies_ms.append((finished - started) * 1000)

    threads = [threading.Thread(target=client) for _ in range(clients)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seconds = time.monotonic() - started
    if failures:
        raise BenchError(f"{len(failures)} client(s) failed, the first: {failures[0]}")
    return {"seconds": seconds, "req_ids": req_ids, "latencies_ms": latencies_ms}


def measure_gateway(args, api_key, work_dir, engine_url, sentences, batch_size: int, events: JobEvents) -> dict:
    worker_env = {"REDGX_EMBED_BATCH_SIZE": str(batch_size), "REDGX_EMBED_MAX_WAIT_MS": str(args.max_wait_ms)}
    worker = web = None
    # Jobs left by an earlier run would be served first and delay this one.
    serving.redis.Redis.from_url(serving.BENCH_ENV["REDGX_INFERENCE_REDIS_URL"]).flushdb()
    try:
        worker = stack.start_worker(work_dir, stack.worker_variant(engine_url, worker_env))
        web = stack.start_web(work_dir, stack.web_variant(f"web-batch{batch_size}"))
        # One job first, so that the timed run measures no start-up work.
        warmup = submit(web.port, api_key, sentences[0])
        events.wait_for(warmup, JOB_TIMEOUT_S)
        logger.info("Gateway run: %d requests, %d clients, batch_size %d", len(sentences), args.clients, batch_size)
        servers = {"web": web, "worker": worker}
        cpu_before = {name: serving.process_tree_cpu_s(server.process.pid) for name, server in servers.items()}
        load_before = os.getloadavg()[0]
        run = run_clients(web.port, api_key, sentences, args.clients, events)
        run["cpu_s"] = {
            name: serving.process_tree_cpu_s(server.process.pid) - cpu_before[name] for name, server in servers.items()
        }
        run["load_average"] = (load_before + os.getloadavg()[0]) / 2
        run["timings"] = check_jobs(web.port, api_key, run["req_ids"])
        if batch_size == args.batch_size:
            run["idle"] = measure_idle(args, api_key, web.port, sentences, events)
        return run
    finally:
        for server in (web, worker):
            if server is not None:
                server.stop()


def measure_idle(args, api_key: str, port: int, sentences: list[str], events: JobEvents) -> list[dict]:
    """Send single requests with pauses between them; return client time to done and the job's timings."""
    inference = serving.redis.Redis.from_url(serving.BENCH_ENV["REDGX_INFERENCE_REDIS_URL"])
    results = []
    for index in range(args.idle_requests):
        time.sleep(1.0)
        started_wall = time.time()
        started = time.monotonic()
        req_id = submit(port, api_key, sentences[index])
        _, finished = events.wait_for(req_id, JOB_TIMEOUT_S)
        timing = check_jobs(port, api_key, [req_id])
        stamps = inference.hmget(f"redgx:job:{req_id}", "created_at", "taken_at", "finished_at", "queued_ms")
        results.append(
            {
                "time_to_done_ms": (finished - started) * 1000,
                "engine_ms": timing["engine_ms"][0] if timing["engine_ms"] else None,
                "batch_wait_ms": timing["batch_wait_ms"][0] if timing["batch_wait_ms"] else None,
                "stages_ms": idle_stages(started_wall, events.received_wall_time(req_id), stamps, timing),
            }
        )
    return results


def idle_stages(sent: float, received: float, stamps: list[bytes | None], timing: dict) -> dict[str, float]:
    """Split one job's time to done into stages, in milliseconds.

    The job hash's wall-clock stamps come from web (created_at) and worker (taken_at,
    finished_at) on this machine, so they share the bench's clock.
    """
    created_at, taken_at, finished_at, queued_ms = (float(stamp) for stamp in stamps)
    batch_wait_ms, engine_ms = timing["batch_wait_ms"][0], timing["engine_ms"][0]
    # queued_ms ends when the worker has read the job after taking it.
    job_read_ms = queued_ms - (taken_at - created_at) * 1000
    return {
        "submit": (created_at - sent) * 1000,
        "wake-up and take": (taken_at - created_at) * 1000,
        "job read": job_read_ms,
        "batch wait": batch_wait_ms,
        "engine": engine_ms,
        "other worker steps": (finished_at - taken_at) * 1000 - job_read_ms - batch_wait_ms - engine_ms,
        "write and event": (received - finished_at) * 1000,
    }


def measure_direct(args, engine_url: str, sentences: list[str]) -> tuple[list, object]:
    sweep_args = SimpleNamespace(
        url=engine_url,
        protocol="tei",
        model=None,
        max_tokens=16,
        timeout=60.0,
        headers={},
        batch_sizes=args.sweep_batch_sizes,
        concurrency=[args.direct_concurrency],
    )
    print(engine_tuning.TABLE_HEADER)
    results = engine_tuning.sweep(sweep_args, sentences[: args.sweep_items])
    top = engine_tuning.best(results)
    sweep_args.batch_sizes = [top.batch_size]
    logger.info("Direct run at the best batch size %d with all %d sentences", top.batch_size, len(sentences))
    full = engine_tuning.sweep(sweep_args, sentences)[0]
    return results, full


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=2000, help="Single-sentence requests per gateway run.")
    parser.add_argument("--clients", type=int, default=64, help="Concurrent clients of the gateway runs.")
    parser.add_argument("--batch-size", type=int, default=32, help="REDGX_EMBED_BATCH_SIZE of the worker.")
    parser.add_argument("--max-wait-ms", type=int, default=20, help="REDGX_EMBED_MAX_WAIT_MS of the worker.")
    parser.add_argument(
        "--sweep-batch-sizes",
        type=engine_tuning._int_list,
        default=[1, 4, 8, 16, 32],
        help="Batch sizes of the direct sweep.",
    )
    parser.add_argument("--sweep-items", type=int, default=512, help="Sentences per setting of the direct sweep.")
    parser.add_argument("--direct-concurrency", type=int, default=2, help="Concurrent calls of the direct runs.")
    parser.add_argument("--idle-requests", type=int, default=5, help="Single requests of the idle measurement.")
    parser.add_argument(
        "--engine-cpus",
        type=engine_tuning._int_list_from_zero,
        help="Run the engine alone on these CPUs (taskset) and this script, web and worker on the others.",
    )
    parser.add_argument("--skip-unbatched", action="store_true", help="Skip the batch_size 1 gateway run.")
    args = parser.parse_args(argv)
    if not 1 <= args.requests <= 20_000:
        parser.error(f"--requests must be 1 to 20000, got {args.requests}")
    if not 1 <= args.clients <= 256:
        parser.error(f"--clients must be 1 to 256, got {args.clients}")
    if not 1 <= args.idle_requests <= 50:
        parser.error(f"--idle-requests must be 1 to 50, got {args.idle_requests}")
    return args


def main(argv=None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", stream=sys.stderr)
    # httpx logs every engine request at INFO.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    args = parse_args(argv)
    os.chdir(serving.REPO)
    sentences = engine_tuning.make_sentences(args.requests)
    engine = events = None
    try:
        api_key, work_dir = stack.prepare("redgx-batching-")
        header = stack.header_lines()
        engine = stack.start_minilm(work_dir, cpus=args.engine_cpus)
        if args.engine_cpus:
            # The web server, the worker, Redis clients and this script then share the other CPUs.
            logger.info("Gateway and clients run on CPUs %s", stack.pin_to_other_cpus(args.engine_cpus))
        engine_url = f"http://127.0.0.1:{engine.port}"
        sweep, direct = measure_direct(args, engine_url, sentences)
        events = JobEvents()
        events.start()
        gateway = measure_gateway(args, api_key, work_dir, engine_url, sentences, args.batch_size, events)
        unbatched = None
        if not args.skip_unbatched:
            unbatched = measure_gateway(args, api_key, work_dir, engine_url, sentences, 1, events)
    except BenchError as exc:
        logger.error("%s", exc)
        return 1
    finally:
        if events is not None:
            events.close()
        if engine is not None:
            engine.stop()

    print("\n".join(header))
    print(
        f"sentences: {len(sentences)} generated sentences of 11-19 words; gateway: granian (deploy/web.py) 2 x 3, "
        f"1 Dramatiq worker (64 threads), {args.clients} clients, max_wait_ms {args.max_wait_ms}"
    )
    print(f"engine: {engine.variant.description}\n")
    print(f"Direct sweep ({args.sweep_items} sentences per setting, concurrency {args.direct_concurrency}):")
    print(engine_tuning.TABLE_HEADER)
    print("\n".join(engine_tuning.format_row(result) for result in sweep))
    direct_rate = direct.items_per_s
    print("\n| run | sentences/s | share of direct best | client time to done p50 / p99 ms | web / worker CPU s |")
    print("|---|---|---|---|---|")
    print(f"| direct, batch {direct.batch_size}, {len(sentences)} sentences | {direct_rate:,.1f} | 1.00 | — | — |")
    met = True
    for name, run in ((f"gateway, batch_size {args.batch_size}", gateway), ("gateway, batch_size 1", unbatched)):
        if run is None:
            continue
        rate = len(sentences) / run["seconds"]
        latencies = sorted(run["latencies_ms"])
        p99_ms = latencies[int(0.99 * (len(latencies) - 1))]
        cpu = run["cpu_s"]
        share = rate / direct_rate
        if run is gateway:
            met = met and share >= MIN_GATEWAY_SHARE
        print(
            f"| {name} | {rate:,.1f} | {share:.2f} | {statistics.median(latencies):,.0f} / "
            f"{p99_ms:,.0f} | {cpu['web']:.1f} / {cpu['worker']:.1f} |"
        )
    print("\n| run | job queued_ms p50 | batch_wait_ms p50 | engine_ms p50 | total_ms p50 | load average |")
    print("|---|---|---|---|---|---|")
    for name, run in ((f"gateway, batch_size {args.batch_size}", gateway), ("gateway, batch_size 1", unbatched)):
        if run is None:
            continue
        medians = [statistics.median(values) if values else float("nan") for values in run["timings"].values()]
        print(f"| {name} | " + " | ".join(f"{value:,.0f}" for value in medians) + f" | {run['load_average']:.2f} |")
    print(f"target: gateway >= {MIN_GATEWAY_SHARE:.0%} of direct best-batch sentences/s")

    print("\n| idle request | time to done ms | engine_ms | batch_wait_ms | bound (engine + max_wait + 20) | within |")
    print("|---|---|---|---|---|---|")
    for index, idle in enumerate(gateway["idle"], start=1):
        bound = (idle["engine_ms"] or 0) + args.max_wait_ms + IDLE_MARGIN_MS
        within = idle["time_to_done_ms"] <= bound
        met = met and within
        print(
            f"| {index} | {idle['time_to_done_ms']:.0f} | {idle['engine_ms']} | {idle['batch_wait_ms']} "
            f"| {bound:.0f} | {'yes' if within else 'no'} |"
        )
    print_idle_stages(gateway["idle"])
    return 0 if met else EXIT_TARGET_MISSED


def print_idle_stages(idle_runs: list[dict]) -> None:
    stages = list(idle_runs[0]["stages_ms"])
    print("\n| idle request stage ms | " + " | ".join(str(n) for n in range(1, len(idle_runs) + 1)) + " | median |")
    print("|---|" + "---|" * (len(idle_runs) + 1))
    for stage in stages:
        values = [run["stages_ms"][stage] for run in idle_runs]
        cells = " | ".join(f"{value:.1f}" for value in values)
        print(f"| {stage} | {cells} | {statistics.median(values):.1f} |")
    print(
        "submit: client send to job stored (web); wake-up and take: job stored to taken by a worker thread; "
        "job read: taken to job read; other worker steps: circuit check before the batcher, and engine call "
        "end to the result's finished_at stamp; write and event: that stamp to this script's receipt of the "
        "done event (result write, publish)"
    )


if __name__ == "__main__":
    sys.exit(main())
