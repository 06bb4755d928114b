"""Measure KV GET and SET through the full stack against the bare floor, and check the targets.

Run it with `.venv/bin/python bench/hot_path.py`. The stack is deployed as in production:
granian through deploy/web.py (2 processes x 3 threads), API key auth, the rate limit (with a quota
the load never exhausts), the envelope and the access history. The floor is bench/floor_app.py
under uvicorn. Rounds are interleaved (floor GET, stack GET, floor PUT, stack PUT, then again),
so that each ratio compares runs made next to each other. Load is
`wrk -t2 -c50 -d10s --latency` on 127.0.0.1.

Targets, checked on the medians of each round's ratios: stack GET req/s at least 30% of the
floor's, and stack GET p99 under 3x the floor's. `--baseline COMMIT` also runs the stack from
that commit (exported with `git archive`), to compare code before and after a change in one run.

The exit status is 1 if a server failed or wrk counted a non-2xx response, 2 if the GET
targets were missed, and 0 otherwise.
"""

import argparse
import logging
import os
import signal
import statistics
import subprocess
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

from bench import serving
from bench.serving import REPO, BenchError, Result, Variant

MIN_GET_RATIO = 0.30
MAX_P99_RATIO = 3.0
EXIT_TARGET_MISSED = 2

logger = logging.getLogger("bench.hot_path")

STACK = serving.web_variant("stack-get")
STACK_PUT = serving.web_variant("stack-put", method="PUT")
FLOOR = replace(serving.VARIANTS[0], name="floor")
FLOOR_PUT = replace(serving.VARIANTS[0], name="floor-put", method="PUT")


def export_commit(commit: str) -> Path:
    """Extract a commit's tracked files into a new temporary directory and return it."""
    target = Path(tempfile.mkdtemp(prefix="redgx-baseline-"))
    archive = subprocess.run(["git", "archive", commit], cwd=REPO, capture_output=True, check=False)
    if archive.returncode != 0:
        raise BenchError(f"git archive {commit} failed: {archive.stderr.decode().strip()}")
    subprocess.run(["tar", "-x", "-C", str(target)], input=archive.stdout, check=True)
    # The exported tree uses the work tree's virtual environment.
    (target / ".venv").symlink_to(REPO / ".venv")
    return target


def build_variants(baseline: str | None) -> list[Variant]:
    variants = [FLOOR, STACK]
    if baseline:
        tree = export_commit(baseline)
        variants.append(replace(STACK, name=f"stack-get@{baseline}", cwd=tree))
    variants += [FLOOR_PUT, STACK_PUT]
    if baseline:
        variants.append(replace(STACK_PUT, name=f"stack-put@{baseline}", cwd=tree))
    return variants


def floor_of(result: Result, results: list[Result]) -> Result | None:
    name = "floor" if result.variant.method == "GET" else "floor-put"
    return next(
        (
            other
            for other in results
            if other.variant.name == name and other.round_number == result.round_number and not other.error
        ),
        None,
    )


def ratios(variant: Variant, results: list[Result]) -> tuple[list[float], list[float]]:
    """Return this variant's req/s ratios and p99 ratios to the floor of the same round."""
    rate_ratios, p99_ratios = [], []
    for result in results:
        if result.variant != variant or result.error:
            continue
        floor = floor_of(result, results)
        if floor is None:
            continue
        rate_ratios.append(result.requests_per_s / floor.requests_per_s)
        p99_ratios.append(result.p99_ms / floor.p99_ms)
    return rate_ratios, p99_ratios


def format_targets(variants: list[Variant], results: list[Result]) -> tuple[str, bool]:
    """Return the table of ratios against the targets and whether the stack's GET met both."""
    lines = [
        "| variant | req/s ratio to floor (median, min-max) | p99 ratio to floor (median) | target | met |",
        "|---|---|---|---|---|",
    ]
    met = False
    for variant in variants:
        if variant.name.startswith("floor"):
            continue
        rate_ratios, p99_ratios = ratios(variant, results)
        if not rate_ratios:
            lines.append(f"| {variant.name} | no successful round | | | |")
            continue
        rate, p99 = statistics.median(rate_ratios), statistics.median(p99_ratios)
        target = "—"
        verdict = "—"
        if variant.method == "GET":
            target = f">= {MIN_GET_RATIO:.2f}x req/s, < {MAX_P99_RATIO:.0f}x p99"
            variant_met = rate >= MIN_GET_RATIO and p99 < MAX_P99_RATIO
            verdict = "yes" if variant_met else "no"
            if variant == STACK:
                met = variant_met
        lines.append(
            f"| {variant.name} | {rate:.2f}x ({min(rate_ratios):.2f}-{max(rate_ratios):.2f}) "
            f"| {p99:.2f}x | {target} | {verdict} |"
        )
    return "\n".join(lines), met


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--duration", type=int, default=10, help=f"Seconds of each wrk run, 1 to {serving.MAX_DURATION_S}."
    )
    parser.add_argument("--connections", type=int, default=50, help="Open HTTP connections that wrk keeps busy.")
    parser.add_argument("--warmup", type=int, default=2, help="Seconds of wrk warm-up before each run. 0 skips it.")
    parser.add_argument("--rounds", type=int, default=3, help=f"Interleaved rounds, 1 to {serving.MAX_ROUNDS}.")
    parser.add_argument(
        "--baseline", metavar="COMMIT", help="Also run the stack from this commit, for a before/after comparison."
    )
    parser.add_argument("--get-only", action="store_true", help="Skip the PUT variants.")
    args = parser.parse_args(argv)
    serving.check_load_args(parser, args)
    return args


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", stream=sys.stderr)
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, serving._raise_stop)
    os.chdir(REPO)
    try:
        serving.check_tools()
        serving.prepare_database()
        api_key = serving.create_bench_key()
        header = serving.describe_machine()
        redis_pid = serving.redis_server_pid()
        code = serving.describe_code()
        variants = build_variants(args.baseline)
    except BenchError as exc:
        logger.error("%s", exc)
        return 1
    if args.get_only:
        variants = [variant for variant in variants if variant.method == "GET"]

    work_dir = Path(tempfile.mkdtemp(prefix="redgx-hot-path-"))
    results: list[Result] = []
    interrupted = False
    try:
        for round_number in range(1, args.rounds + 1):
            for variant in variants:
                results.append(serving.measure(variant, round_number, args, api_key, work_dir, redis_pid))
    except (KeyboardInterrupt, serving.StopRequested):
        logger.warning("Stopped before the end. The results so far follow")
        interrupted = True

    print("\n".join([header[0], f"code: {code}", *header[1:]]))
    print(f"load average at end: {os.getloadavg()[0]:.2f}")
    print(
        f"load: wrk -t{serving.WRK_THREADS} -c{args.connections} -d{args.duration}s --latency "
        f"after a {args.warmup} s warm-up, {args.rounds} interleaved round(s)"
    )
    print()
    for variant in variants:
        print(f"- {variant.name}: {variant.description}" + (f" (code in {variant.cwd})" if variant.cwd != REPO else ""))
    print()
    print(serving.format_runs(results))
    print()
    print(serving.format_summary(results, variants))
    print()
    table, met = format_targets(variants, results)
    print(table)
    print(f"\nServer logs: {work_dir}")

    invalid = sorted({result.variant.name for result in results if result.error or result.non_2xx})
    if invalid:
        logger.error("Failed or with non-2xx responses: %s", ", ".join(invalid))
        return 1
    if interrupted:
        return serving.EXIT_INTERRUPTED
    return 0 if met else EXIT_TARGET_MISSED


if __name__ == "__main__":
    sys.exit(main())
