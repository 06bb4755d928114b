"""Measure accepted embed submits per second against KV SET, and the submit path at 10x overload.

Run it with `.venv/bin/python -m bench.submit`. Both parts run the web server as deployed
(deploy/web.py: granian, 2 processes x 3 threads) and drive it with wrk (`-t2 -c50`) on 127.0.0.1.

1. Rate: `POST /gpu/embed` with one sentence (each 202 means the job is stored and queued in
   Redis) alternating with `PUT /kv/hello` (one SET). The queue limits are raised for this part
   only, so every submit is accepted. Target: submits/s at least 50% of KV SET req/s.
2. Overload: the Dramatiq worker and the MiniLM reference engine run with batch_size 1, so the
   queue drains at the engine's one-sentence rate, while wrk submits as fast as the web server
   accepts, about 10x that rate. The default queue limits apply. Expected: 202 until the
   namespace's queue is full, then 429 with Retry-After; no 5xx; the RSS of web and worker
   stays bounded (sampled every second).

The exit status is 1 on a failure, a 5xx or any non-2xx response in the rate part, 2 if the
rate target was missed.
"""

import argparse
import json
import logging
import os
import statistics
import sys

from bench import serving, stack
from bench.serving import BenchError

NAMESPACE = serving.NAMESPACE
EMBED_PATH = f"/api/v1/ns/{NAMESPACE}/gpu/embed"
EMBED_BODY = json.dumps({"inputs": "The quick brown fox jumps over the lazy dog near the river bank."})
MIN_RATIO = 0.5
EXIT_TARGET_MISSED = 2
# High enough that the rate part never meets a queue limit.
UNLIMITED_QUEUE_ENV = {
    "REDGX_MAX_QUEUED_JOBS_PER_TASK": "10000000",
    "REDGX_MAX_QUEUED_JOBS_PER_NAMESPACE": "10000000",
}

logger = logging.getLogger("bench.submit")


def clear_inference_queue() -> None:
    """Empty the bench's inference Redis database, which holds only the bench's jobs."""
    serving.redis.Redis.from_url(serving.BENCH_ENV["REDGX_INFERENCE_REDIS_URL"]).flushdb()


def measure_rate(args, api_key: str, work_dir) -> tuple[list[stack.LoadRun], str]:
    web = stack.start_web(work_dir, stack.web_variant("web-rate", env=UNLIMITED_QUEUE_ENV))
    try:
        serving.store_and_check_key(web, api_key)
        status, body = stack.api_request(web.port, "POST", EMBED_PATH, api_key, json.loads(EMBED_BODY))
        if status != 202:
            raise BenchError(f"POST {EMBED_PATH} returned {status}: {body}")
        commands = stack.format_commands(
            stack.redis_commands_per_request(
                web.port, api_key, "POST", EMBED_PATH, json.loads(EMBED_BODY), statuses=(202,)
            )
        )
        base = f"http://127.0.0.1:{web.port}"
        runs = []
        for round_number in range(1, args.rounds + 1):
            for name, path, script in (
                ("submit embed", EMBED_PATH, stack.wrk_script("POST", EMBED_BODY)),
                ("KV SET", serving.KV_PATH, stack.wrk_script("PUT", serving.PUT_BODY)),
            ):
                logger.info("Measuring %s (round %d)", name, round_number)
                run = stack.run_wrk(
                    f"{name}-{round_number}".replace(" ", "-"),
                    base + path,
                    api_key,
                    script,
                    work_dir,
                    args.duration,
                    args.connections,
                    [web.process.pid],
                )
                run.name = f"{name} (round {round_number})"
                runs.append(run)
            clear_inference_queue()
    finally:
        web.stop()
    return runs, commands


def measure_overload(args, api_key: str, work_dir) -> tuple[list[stack.LoadRun], list[str]]:
    engine = web = worker = None
    try:
        engine = stack.start_minilm(work_dir)
        engine_url = f"http://127.0.0.1:{engine.port}"
        worker = stack.start_worker(work_dir, stack.worker_variant(engine_url, {"REDGX_EMBED_BATCH_SIZE": "1"}))
        web = stack.start_web(work_dir, stack.web_variant("web-overload"))
        sampler = stack.RssSampler({"web (granian)": web.process.pid, "worker (dramatiq)": worker.process.pid})
        sampler.sample()
        sampler.start()
        runs = []
        url = f"http://127.0.0.1:{web.port}{EMBED_PATH}"
        for part in range(1, args.overload_runs + 1):
            logger.info("Overload run %d of %d", part, args.overload_runs)
            run = stack.run_wrk(
                f"overload-{part}",
                url,
                api_key,
                stack.wrk_script("POST", EMBED_BODY),
                work_dir,
                args.duration,
                args.connections,
                [web.process.pid],
                count_statuses=True,
            )
            run.name = f"overload (run {part})"
            runs.append(run)
        sampler.stopping.set()
        sampler.join()
        sampler.sample()
        return runs, sampler.summary()
    finally:
        for server in (web, worker, engine):
            if server is not None:
                server.stop()
        clear_inference_queue()


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=10, help="Seconds of each wrk run, 1 to 10.")
    parser.add_argument("--connections", type=int, default=50, help="Open HTTP connections that wrk keeps busy.")
    parser.add_argument("--rounds", type=int, default=2, help="Rounds of the rate part, 1 to 5.")
    parser.add_argument(
        "--overload-runs", type=int, default=3, help="Back-to-back wrk runs of the overload part, 0 to 30 (0 skips it)."
    )
    args = parser.parse_args(argv)
    serving.check_load_args(parser, args)
    if not 0 <= args.overload_runs <= 30:
        parser.error(f"--overload-runs must be 0 to 30, got {args.overload_runs}")
    return args


def main(argv=None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", stream=sys.stderr)
    args = parse_args(argv)
    os.chdir(serving.REPO)
    try:
        api_key, work_dir = stack.prepare("redgx-submit-")
        header = stack.header_lines()
        clear_inference_queue()
        rate_runs, commands = measure_rate(args, api_key, work_dir)
        overload_runs, memory = measure_overload(args, api_key, work_dir) if args.overload_runs else ([], [])
    except BenchError as exc:
        logger.error("%s", exc)
        return 1

    print("\n".join(header))
    load = f"wrk -t{serving.WRK_THREADS} -c{args.connections} -d{args.duration}s"
    print(f"load: {load}; web: granian (deploy/web.py) 2 x 3")
    print(f"submit: {commands} (Redis INFO commandstats, commands inside Lua scripts included)\n")
    print(stack.format_load_runs(rate_runs))
    submits = [run.requests_per_s for run in rate_runs[0::2]]
    sets = [run.requests_per_s for run in rate_runs[1::2]]
    ratios = [submit / kv_set for submit, kv_set in zip(submits, sets, strict=True)]
    ratio = statistics.median(ratios)
    print(
        f"\nsubmits/s median {statistics.median(submits):,.0f}, KV SET req/s median {statistics.median(sets):,.0f}, "
        f"ratio {ratio:.2f} (per round: {', '.join(f'{value:.2f}' for value in ratios)}); target >= {MIN_RATIO:.2f}"
    )

    server_errors = 0
    if overload_runs:
        print("\nOverload: worker and MiniLM engine with batch_size 1, default queue limits")
        print(stack.format_load_runs(overload_runs))
        print()
        print("| run | 202 | 429 | 5xx | other |")
        print("|---|---|---|---|---|")
        for run in overload_runs:
            accepted, rejected = run.statuses.get(202, 0), run.statuses.get(429, 0)
            errors = sum(count for status, count in run.statuses.items() if status >= 500)
            other = sum(run.statuses.values()) - accepted - rejected - errors
            server_errors += errors + run.socket_errors
            print(f"| {run.name} | {accepted} | {rejected} | {errors} | {other} |")
        print()
        print("\n".join(memory))

    if any(run.non_2xx or run.socket_errors for run in rate_runs) or server_errors:
        logger.error("Non-2xx responses in the rate part, or 5xx or socket errors under overload")
        return 1
    return 0 if ratio >= MIN_RATIO else EXIT_TARGET_MISSED


if __name__ == "__main__":
    sys.exit(main())
