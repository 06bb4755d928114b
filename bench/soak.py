"""Run mixed load for several minutes and check that memory, descriptors and connections stay flat.

Run it with `.venv/bin/python -m bench.soak` (10 minutes) or `--minutes 1` for a quick check.
It starts the MiniLM engine, one Dramatiq worker (batch_size 32) and the web server as deployed
(deploy/web.py, granian 2 x 3).
Then it runs back-to-back 10 s wrk runs (`-t2 -c50`) of a request mix: KV GET 60%, KV SET 25%,
a 10-operation pipeline 5% and an embed submit 10%. Every 5 s it samples the RSS, open file
descriptors and TCP connections of the web and worker process trees from /proc (psutil).

Steady means: RSS at the end within 10% of the first minute's maximum, and descriptors and
connections at the end no higher than the first minute's maximum plus 10. Submits may get 429
when the engine falls behind; any 5xx or socket error fails the run.
The exit status is 1 on a failure or 5xx, 2 if a process did not stay steady.
"""

import argparse
import json
import logging
import os
import sys
import time

from bench import serving, stack
from bench.serving import BenchError

NAMESPACE = serving.NAMESPACE
SAMPLE_INTERVAL_S = 5.0
RUN_SECONDS = 10
MAX_RSS_GROWTH = 0.10
MAX_EXTRA_DESCRIPTORS = 10
MAX_MINUTES = 60

logger = logging.getLogger("bench.soak")


def mix_script() -> str:
    """Return a wrk script that picks each request from the mix at random."""
    base = f"/api/v1/ns/{NAMESPACE}"
    pipeline = json.dumps(
        {"operations": [{"area": "kv", "op": "get", "key": f"soak-{index}"} for index in range(10)]},
        separators=(",", ":"),
    )
    embed = json.dumps({"inputs": "A short sentence for the soak test of the embedding queue."})
    requests = [
        (60, "GET", f"{base}/kv/{serving.KEY}", None),
        (25, "PUT", f"{base}/kv/soak-value", serving.PUT_BODY),
        (5, "POST", f"{base}/pipeline", pipeline),
        (10, "POST", f"{base}/gpu/embed", embed),
    ]
    lines = ["local mix = {}"]
    for weight, method, path, body in requests:
        body_text = "nil" if body is None else f"[==[{body}]==]"
        lines.append(f"for i = 1, {weight} do")
        lines.append(f'  table.insert(mix, {{"{method}", "{path}", {body_text}}})')
        lines.append("end")
    lines += [
        # Given headers, wrk.format() sends them instead of wrk.headers, which contain the -H API key.
        "local json_headers = nil",
        "request = function()",
        "  local pick = mix[math.random(#mix)]",
        "  if pick[3] == nil then",
        "    return wrk.format(pick[1], pick[2], nil, nil)",
        "  end",
        "  if json_headers == nil then",
        "    json_headers = {}",
        "    for name, value in pairs(wrk.headers) do json_headers[name] = value end",
        '    json_headers["Content-Type"] = "application/json"',
        "  end",
        "  return wrk.format(pick[1], pick[2], json_headers, pick[3])",
        "end",
    ]
    return "\n".join(lines) + "\n"


def steady(samples: list[tuple[float, int, int]], first_minute_count: int) -> tuple[bool, str]:
    first = samples[:first_minute_count]
    rss_limit = max(sample[0] for sample in first) * (1 + MAX_RSS_GROWTH)
    fds_limit = max(sample[1] for sample in first) + MAX_EXTRA_DESCRIPTORS
    tcp_limit = max(sample[2] for sample in first) + MAX_EXTRA_DESCRIPTORS
    rss, fds, tcp = samples[-1]
    problems = []
    if rss > rss_limit:
        problems.append(f"RSS {rss:.0f} MiB > {rss_limit:.0f}")
    if fds > fds_limit:
        problems.append(f"fds {fds} > {fds_limit}")
    if tcp > tcp_limit:
        problems.append(f"TCP {tcp} > {tcp_limit}")
    return not problems, "; ".join(problems) or "steady"


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10, help=f"Minutes of load, 1 to {MAX_MINUTES}.")
    parser.add_argument("--connections", type=int, default=50, help="Open HTTP connections that wrk keeps busy.")
    args = parser.parse_args(argv)
    if not 1 <= args.minutes <= MAX_MINUTES:
        parser.error(f"--minutes must be 1 to {MAX_MINUTES}, got {args.minutes}")
    return args


def main(argv=None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", stream=sys.stderr)
    args = parse_args(argv)
    os.chdir(serving.REPO)
    engine = worker = web = None
    runs: list[stack.LoadRun] = []
    try:
        api_key, work_dir = stack.prepare("redgx-soak-")
        header = stack.header_lines()
        engine = stack.start_minilm(work_dir)
        worker = stack.start_worker(work_dir, stack.worker_variant(f"http://127.0.0.1:{engine.port}"))
        web = stack.start_web(work_dir)
        serving.store_and_check_key(web, api_key)
        sampler = stack.RssSampler(
            {"web (granian)": web.process.pid, "worker (dramatiq)": worker.process.pid}, SAMPLE_INTERVAL_S
        )
        sampler.sample()
        sampler.start()
        url = f"http://127.0.0.1:{web.port}/"
        deadline = time.monotonic() + args.minutes * 60
        while time.monotonic() < deadline:
            run = stack.run_wrk(
                f"soak-{len(runs) + 1}",
                url,
                api_key,
                mix_script(),
                work_dir,
                RUN_SECONDS,
                args.connections,
                [web.process.pid],
                count_statuses=True,
            )
            runs.append(run)
            logger.info("Soak run %d: %.0f req/s, statuses %s", len(runs), run.requests_per_s, run.statuses)
        sampler.stopping.set()
        sampler.join()
        sampler.sample()
    except BenchError as exc:
        logger.error("%s", exc)
        return 1
    finally:
        for server in (web, worker, engine):
            if server is not None:
                server.stop()
        serving.redis.Redis.from_url(serving.BENCH_ENV["REDGX_INFERENCE_REDIS_URL"]).flushdb()

    print("\n".join(header))
    print(
        f"soak: {args.minutes:g} minutes, {len(runs)} wrk runs of {RUN_SECONDS} s (-t2 -c{args.connections}), "
        "mix GET 60% / SET 25% / pipeline 10 ops 5% / embed submit 10%; engine MiniLM, worker batch_size 32\n"
    )
    totals: dict[int, int] = {}
    for run in runs:
        for status, count in run.statuses.items():
            totals[status] = totals.get(status, 0) + count
    rates = [run.requests_per_s for run in runs]
    print(
        f"req/s per run: first {rates[0]:,.0f}, min {min(rates):,.0f}, max {max(rates):,.0f}, last {rates[-1]:,.0f}; "
        f"load average at end {os.getloadavg()[0]:.2f}"
    )
    print("statuses: " + ", ".join(f"{status}: {count}" for status, count in sorted(totals.items())))
    print()
    print("\n".join(sampler.summary()))
    print()
    print("\n".join(sampler.by_minute()))

    first_minute_count = max(1, int(60 / SAMPLE_INTERVAL_S))
    all_steady = True
    for name, samples in sampler.samples.items():
        ok, verdict = steady(samples, first_minute_count)
        all_steady = all_steady and ok
        print(f"{name}: {verdict}")

    errors = sum(count for status, count in totals.items() if status >= 500 or status < 200)
    errors += sum(run.socket_errors for run in runs)
    if errors:
        logger.error("%d responses were 5xx or socket errors", errors)
        return 1
    return 0 if all_steady else 2


if __name__ == "__main__":
    sys.exit(main())
