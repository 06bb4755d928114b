"""Sweep batch size and concurrency against an inference engine, to choose batch_size and max_wait_ms.

Point it at your own engine:

    .venv/bin/python -m bench.engine_tuning --url http://127.0.0.1:8081 --protocol tei
    .venv/bin/python -m bench.engine_tuning --url http://10.0.0.5:8000 --protocol openai_completions \\
        --model my-model --batch-sizes 1,8,32 --concurrency 1,4 --items 256

For every combination it sends --items inputs in requests of batch_size inputs, from
`concurrency` client threads, and prints inputs per second and the request latency p50/p99.
The inputs are generated English sentences of 11 to 19 words (or the lines of --inputs-file).
A request that fails is counted and shown; the sweep goes on. docs/tuning.md explains how to
read the table. Every request waits at most --timeout seconds, and the sweep sends
items x (batch sizes) x (concurrency values) inputs in total, so size --items to your engine.
"""

import argparse
import random
import statistics
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

PROTOCOLS = ("tei", "openai_completions", "openai_chat")
WORDS_TEXT = (
    "the a quick brown fox lazy dog river bank model server request batch queue token engine "
    "latency throughput memory cache network client worker thread process vector sentence "
    "morning evening city market garden window letter music story table chair bright quiet "
    "small large ancient modern simple complex careful rapid gentle heavy"
)
WORDS = WORDS_TEXT.split()
MAX_ITEMS = 100_000


@dataclass
class SweepResult:
    batch_size: int
    concurrency: int
    items: int
    seconds: float
    latencies_ms: list[float]
    errors: int
    first_error: str = ""

    @property
    def items_per_s(self) -> float:
        return (self.items - self.errors * self.batch_size) / self.seconds if self.seconds else 0.0

    def latency_ms(self, quantile: float) -> float:
        if not self.latencies_ms:
            return float("nan")
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(quantile * len(ordered)))]


def make_sentences(count: int, seed: int = 7) -> list[str]:
    """Return count deterministic sentences of 11 to 19 words."""
    generator = random.Random(seed)
    sentences = []
    for _ in range(count):
        words = generator.choices(WORDS, k=generator.randint(11, 19))
        sentences.append(" ".join(words).capitalize() + ".")
    return sentences


def request_for(protocol: str, batch: list[str], model: str | None, max_tokens: int) -> tuple[str, dict]:
    """Return the path and JSON body of one engine request carrying the batch."""
    if protocol == "tei":
        return "/embed", {"inputs": batch}
    if protocol == "openai_completions":
        body = {"prompt": batch, "max_tokens": max_tokens}
    else:
        # A chat request carries one conversation, so batch sizes above 1 are rejected in parse_args.
        body = {"messages": [{"role": "user", "content": batch[0]}], "max_tokens": max_tokens}
    if model:
        body["model"] = model
    return ("/v1/completions" if protocol == "openai_completions" else "/v1/chat/completions"), body


def run_setting(
    client: httpx.Client, args: argparse.Namespace, inputs: list[str], batch_size: int, concurrency: int
) -> SweepResult:
    batches = [inputs[start : start + batch_size] for start in range(0, len(inputs), batch_size)]
    next_batch = iter(batches)
    lock = threading.Lock()
    result = SweepResult(batch_size, concurrency, len(inputs), 0.0, [], 0)

    def work() -> None:
        while True:
            with lock:
                batch = next(next_batch, None)
            if batch is None:
                return
            path, body = request_for(args.protocol, batch, args.model, args.max_tokens)
            started = time.perf_counter()
            error = ""
            try:
                response = client.post(args.url.rstrip("/") + path, json=body, headers=args.headers)
                if response.status_code != 200:
                    error = f"HTTP {response.status_code}: {response.text[:200]}"
            except httpx.HTTPError as exc:
                error = f"{type(exc).__name__}: {exc}"
            elapsed_ms = (time.perf_counter() - started) * 1000
            with lock:
                if error:
                    result.errors += 1
                    result.first_error = result.first_error or error
                else:
                    result.latencies_ms.append(elapsed_ms)

    threads = [threading.Thread(target=work) for _ in range(concurrency)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    result.seconds = time.perf_counter() - started
    return result


def tei_batch_sizes(client: httpx.Client, args: argparse.Namespace) -> list[int]:
    """Return the batch sizes that fit TEI's max_client_batch_size from GET /info, printing any left out."""
    info = client.get(args.url.rstrip("/") + "/info", headers=args.headers)
    limit = info.json().get("max_client_batch_size") if info.status_code == 200 else None
    if not limit:
        return args.batch_sizes
    fitting = [size for size in args.batch_sizes if size <= limit]
    skipped = [size for size in args.batch_sizes if size > limit]
    if skipped:
        print(f"skipped batch sizes {skipped}: the engine's max_client_batch_size is {limit}", flush=True)
    return fitting or [limit]


def sweep(args: argparse.Namespace, inputs: list[str]) -> list[SweepResult]:
    results = []
    limits = httpx.Limits(max_connections=max(args.concurrency), max_keepalive_connections=max(args.concurrency))
    with httpx.Client(timeout=args.timeout, limits=limits, follow_redirects=False) as client:
        if args.protocol == "tei":
            args.batch_sizes = tei_batch_sizes(client, args)
        warmup_path, warmup_body = request_for(args.protocol, inputs[:1], args.model, args.max_tokens)
        client.post(args.url.rstrip("/") + warmup_path, json=warmup_body, headers=args.headers)
        for concurrency in args.concurrency:
            for batch_size in args.batch_sizes:
                result = run_setting(client, args, inputs, batch_size, concurrency)
                print(format_row(result), flush=True)
                results.append(result)
    return results


TABLE_HEADER = (
    "| batch size | concurrency | inputs/s | request p50 ms | request p99 ms | errors |\n|---|---|---|---|---|---|"
)


def format_row(result: SweepResult) -> str:
    errors = f"{result.errors} ({result.first_error[:80]})" if result.errors else "0"
    return (
        f"| {result.batch_size} | {result.concurrency} | {result.items_per_s:,.1f} "
        f"| {result.latency_ms(0.5):,.1f} | {result.latency_ms(0.99):,.1f} | {errors} |"
    )


def best(results: list[SweepResult]) -> SweepResult:
    return max(results, key=lambda result: result.items_per_s)


def suggestion(results: list[SweepResult], share: float = 0.9) -> SweepResult:
    """Return the setting with the smallest batch that reaches ``share`` of the best throughput."""
    target = best(results).items_per_s * share
    reaching = [result for result in results if result.items_per_s >= target and not result.errors]
    return min(reaching, key=lambda result: (result.batch_size, result.concurrency))


def _int_list(text: str, minimum: int = 1) -> list[int]:
    try:
        values = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        values = []
    if not values or min(values) < minimum:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers of {minimum} or more, got {text!r}")
    return values


def _int_list_from_zero(text: str) -> list[int]:
    return _int_list(text, minimum=0)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", required=True, help="Engine base URL, such as http://127.0.0.1:8081.")
    parser.add_argument("--protocol", choices=PROTOCOLS, default="tei", help="Engine protocol. Default: tei.")
    parser.add_argument("--batch-sizes", type=_int_list, default=[1, 4, 8, 16, 32, 64], help="Inputs per request.")
    parser.add_argument("--concurrency", type=_int_list, default=[1, 2], help="Requests in flight at once.")
    parser.add_argument("--items", type=int, default=512, help="Inputs sent per setting. Default: 512.")
    parser.add_argument("--inputs-file", type=Path, help="Text file with one input per line, reused in a cycle.")
    parser.add_argument("--model", help="Model name for the OpenAI protocols.")
    parser.add_argument("--max-tokens", type=int, default=16, help="max_tokens for the OpenAI protocols.")
    parser.add_argument("--timeout", type=float, default=60.0, help="Seconds one request may take. Default: 60.")
    parser.add_argument("--header", action="append", default=[], help="Extra request header NAME:VALUE.")
    args = parser.parse_args(argv)
    if not 1 <= args.items <= MAX_ITEMS:
        parser.error(f"--items must be 1 to {MAX_ITEMS}, got {args.items}")
    if args.protocol == "openai_chat" and max(args.batch_sizes) > 1:
        parser.error("openai_chat sends one conversation per request: use --batch-sizes 1 and vary --concurrency")
    args.headers = {}
    for header in args.header:
        name, separator, value = header.partition(":")
        if not separator:
            parser.error(f"--header must be NAME:VALUE, got {header!r}")
        args.headers[name.strip()] = value.strip()
    return args


def load_inputs(args: argparse.Namespace) -> list[str]:
    if args.inputs_file is None:
        return make_sentences(args.items)
    lines = [line.strip() for line in args.inputs_file.read_text().splitlines() if line.strip()]
    if not lines:
        raise SystemExit(f"{args.inputs_file} has no non-empty lines")
    return [lines[index % len(lines)] for index in range(args.items)]


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    inputs = load_inputs(args)
    print(f"engine {args.url} ({args.protocol}), {args.items} inputs per setting, {time.strftime('%Y-%m-%d %H:%M %Z')}")
    print(TABLE_HEADER, flush=True)
    try:
        results = sweep(args, inputs)
    except httpx.HTTPError as exc:
        print(f"The engine at {args.url} did not answer the warm-up request: {exc}", file=sys.stderr)
        return 1
    top, chosen = best(results), suggestion(results)
    print(
        f"\nbest: batch size {top.batch_size} at concurrency {top.concurrency}, {top.items_per_s:,.1f} inputs/s"
        f"\nsmallest batch within 90% of it: batch size {chosen.batch_size} at concurrency {chosen.concurrency}, "
        f"{chosen.items_per_s:,.1f} inputs/s, request p50 {chosen.latency_ms(0.5):,.0f} ms"
    )
    median_ms = statistics.median(chosen.latencies_ms) if chosen.latencies_ms else float("nan")
    print(
        f"suggested start: batch_size {chosen.batch_size}, max_concurrent_calls {chosen.concurrency}, "
        f"max_wait_ms at most {median_ms / 2:,.0f} (half the batch's request time; see docs/tuning.md)"
    )
    return 1 if any(result.errors for result in results) else 0


if __name__ == "__main__":
    sys.exit(main())
