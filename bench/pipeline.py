"""Measure Redis operations per second through POST .../pipeline against single-operation requests.

Run it with `.venv/bin/python -m bench.pipeline`. It starts the web server as deployed (deploy/web.py),
stores 100 keys, then runs wrk (`-t2 -c50`, 10 s by default) three ways in alternation: a KV GET
per request, a pipeline of 100 KV `get` operations per request, and a pipeline of 100 `set`
operations. Operations per second are requests per second times the operations per request.
The target is at least 20x the single-operation rate.

`--baseline COMMIT` also starts a server on that commit's code (exported with `git archive`) and
runs both pipelines against it in the same rounds, for a before/after comparison in one run.

The exit status is 1 on a failure or any non-2xx response, 2 if the target was missed.
"""

import argparse
import json
import logging
import os
import statistics
import sys
from dataclasses import replace

from bench import serving, stack
from bench.hot_path import export_commit
from bench.serving import BenchError

NAMESPACE = serving.NAMESPACE
OPERATIONS_PER_REQUEST = 100
MIN_SPEEDUP = 20.0
EXIT_TARGET_MISSED = 2

logger = logging.getLogger("bench.pipeline")


def pipeline_body(op: str) -> str:
    operations = []
    for index in range(OPERATIONS_PER_REQUEST):
        operation = {"area": "kv", "op": op, "key": f"pipe-{index}"}
        if op == "set":
            operation["args"] = {"value": f"value-{index}"}
        operations.append(operation)
    return json.dumps({"operations": operations}, separators=(",", ":"))


def check_pipeline(port: int, api_key: str) -> None:
    """Store the keys with one pipeline and check that a get pipeline returns every value."""
    path = f"/api/v1/ns/{NAMESPACE}/pipeline"
    status, body = stack.api_request(port, "POST", path, api_key, json.loads(pipeline_body("set")))
    if status != 200 or not all(result["ok"] for result in body["data"]["results"]):
        raise BenchError(f"The set pipeline returned {status}: {str(body)[:300]}")
    status, body = stack.api_request(port, "POST", path, api_key, json.loads(pipeline_body("get")))
    values = [result.get("data", {}).get("value") for result in body.get("data", {}).get("results", [])]
    if status != 200 or values != [f"value-{index}" for index in range(OPERATIONS_PER_REQUEST)]:
        raise BenchError(f"The get pipeline returned {status}: {str(body)[:300]}")


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=10, help="Seconds of each wrk run, 1 to 10.")
    parser.add_argument("--connections", type=int, default=50, help="Open HTTP connections that wrk keeps busy.")
    parser.add_argument("--rounds", type=int, default=2, help="Times to run the three loads, 1 to 5.")
    parser.add_argument(
        "--baseline",
        metavar="COMMIT",
        help="Also run both pipelines on this commit's code, for a before/after comparison.",
    )
    args = parser.parse_args(argv)
    serving.check_load_args(parser, args)
    return args


def main(argv=None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", stream=sys.stderr)
    args = parse_args(argv)
    os.chdir(serving.REPO)
    web = baseline_web = None
    runs: list[stack.LoadRun] = []
    try:
        api_key, work_dir = stack.prepare("redgx-pipeline-")
        header = stack.header_lines()
        web = stack.start_web(work_dir)
        serving.store_and_check_key(web, api_key)
        check_pipeline(web.port, api_key)
        loads = [
            ("single GET", web, f"/kv/{serving.KEY}", stack.wrk_script("GET")),
            ("pipeline 100 x get", web, "/pipeline", stack.wrk_script("POST", pipeline_body("get"))),
            ("pipeline 100 x set", web, "/pipeline", stack.wrk_script("POST", pipeline_body("set"))),
        ]
        if args.baseline:
            variant = stack.web_variant()
            tree = export_commit(args.baseline)
            baseline_web = stack.start_web(work_dir, replace(variant, name=f"web@{args.baseline}", cwd=tree))
            check_pipeline(baseline_web.port, api_key)
            loads += [
                (f"{name} @{args.baseline}", baseline_web, path, script)
                for name, _server, path, script in loads
                if name.startswith("pipeline")
            ]
        for round_number in range(1, args.rounds + 1):
            for name, server, path, script in loads:
                logger.info("Measuring %s (round %d)", name, round_number)
                run = stack.run_wrk(
                    f"{name} r{round_number}".replace(" ", "-").replace("@", ""),
                    f"http://127.0.0.1:{server.port}/api/v1/ns/{NAMESPACE}{path}",
                    api_key,
                    script,
                    work_dir,
                    args.duration,
                    args.connections,
                    [server.process.pid],
                )
                run.name = f"{name} (round {round_number})"
                runs.append(run)
    except BenchError as exc:
        logger.error("%s", exc)
        return 1
    finally:
        for server in (web, baseline_web):
            if server is not None:
                server.stop()

    print("\n".join(header))
    print(f"load: wrk -t{serving.WRK_THREADS} -c{args.connections} -d{args.duration}s, {args.rounds} round(s)")
    print(f"server: {stack.web_variant().description}\n")
    print(stack.format_load_runs(runs))
    print()
    per_round = len(loads)
    speedups = {"get": [], "set": []}
    for round_number in range(args.rounds):
        single, get_run, set_run = runs[per_round * round_number : per_round * round_number + 3]
        speedups["get"].append(get_run.requests_per_s * OPERATIONS_PER_REQUEST / single.requests_per_s)
        speedups["set"].append(set_run.requests_per_s * OPERATIONS_PER_REQUEST / single.requests_per_s)
    single_ops = statistics.median(run.requests_per_s for run in runs[0::per_round])
    print("| load | Redis operations/s (median) | ratio to single GET requests | target |")
    print("|---|---|---|---|")
    print(f"| single GET | {single_ops:,.0f} | 1.00x | |")
    for op, index in (("get", 1), ("set", 2)):
        ops = statistics.median(run.requests_per_s for run in runs[index::per_round]) * OPERATIONS_PER_REQUEST
        print(f"| pipeline 100 x {op} | {ops:,.0f} | {statistics.median(speedups[op]):.1f}x | >= {MIN_SPEEDUP:.0f}x |")
    if args.baseline:
        print(f"\n| load | server CPU µs/req, this tree (median) | at {args.baseline} (median) | ratio |")
        print("|---|---|---|---|")
        for op, index in (("get", 1), ("set", 2)):
            now = statistics.median(run.server_cpu_us_per_request for run in runs[index::per_round])
            before = statistics.median(run.server_cpu_us_per_request for run in runs[index + 2 :: per_round])
            print(f"| pipeline 100 x {op} | {now:,.0f} | {before:,.0f} | {before / now:.2f}x |")
    print(f"\nServer log: {web.log_path}")

    if any(run.non_2xx or run.socket_errors for run in runs):
        logger.error("wrk counted non-2xx responses or socket errors")
        return 1
    met = min(statistics.median(values) for values in speedups.values()) >= MIN_SPEEDUP
    return 0 if met else EXIT_TARGET_MISSED


if __name__ == "__main__":
    sys.exit(main())
