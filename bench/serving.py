"""Measure serving setups for the REST API side by side, as ratios to a bare ASGI floor.

Run it with `.venv/bin/python bench/serving.py`. For every variant, the script starts the server
on a free 127.0.0.1 port, stores the key `hello` with a PUT and checks that a GET returns 200 with
that value. It then runs a short wrk warm-up, measures with `wrk -t2 -c50 -d10s --latency` and
stops the server. At the end it prints a Markdown table with requests per second, p50 and p99
latency, non-2xx responses, server CPU per request and the ratio to the floor.

It needs PostgreSQL and Redis on 127.0.0.1, wrk in PATH, and uvicorn, uvloop and httptools in
.venv. It creates and migrates the database `redgx_bench` if it is missing, and uses Redis
databases 13 and 12. Results are only comparable within one run, because the load generator
shares the machine's cores with the servers.
"""

import argparse
import contextlib
import http.client
import json
import logging
import os
import platform
import re
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

import psutil
import redis

REPO = Path(__file__).resolve().parent.parent
VENV_BIN = REPO / ".venv" / "bin"
PYTHON = VENV_BIN / "python"

PG_HOST, PG_USER = "127.0.0.1", "postgres"
# REDGX_BENCH_DATABASE_URL and REDGX_BENCH_*_REDIS_URL point the benches at other databases,
# for example when several people share one PostgreSQL and Redis.
DATABASE_URL = os.environ.get("REDGX_BENCH_DATABASE_URL", f"postgres://{PG_USER}@{PG_HOST}:5432/redgx_bench")
DATABASE_NAME = urllib.parse.urlsplit(DATABASE_URL).path.lstrip("/")
BENCH_ENV = {
    "DJANGO_SETTINGS_MODULE": "redgx_project.settings.base",
    "DJANGO_DEBUG": "false",
    "DJANGO_SECRET_KEY": "bench-only",
    "DATABASE_URL": DATABASE_URL,
    "REDGX_DATA_REDIS_URL": os.environ.get("REDGX_BENCH_DATA_REDIS_URL", "redis://127.0.0.1:6379/13"),
    "REDGX_INFERENCE_REDIS_URL": os.environ.get("REDGX_BENCH_INFERENCE_REDIS_URL", "redis://127.0.0.1:6379/12"),
    # An empty value keeps the web server's access log off (deploy/web.py).
    "WEB_ACCESS_LOG": "",
    # The bench key gets every request checked against the rate limit, with a quota that the
    # load never exhausts, so that the limiter's cost is measured but no request gets a 429.
    "REDGX_RATE_PER_S": "1000000",
    "REDGX_RATE_BURST": "1000000",
}

NAMESPACE, KEY, VALUE = "bench", "hello", "world"
KV_PATH = f"/api/v1/ns/{NAMESPACE}/kv/{KEY}"
PUT_BODY = json.dumps({"value": VALUE})

WRK_THREADS = 2
# Each wrk run is kept short because the machine is shared with other work.
MAX_DURATION_S = 10
MAX_ROUNDS = 5
START_TIMEOUT_S = 60
STOP_TIMEOUT_S = 15
REQUEST_TIMEOUT_S = 10
# The shell's exit status for a program stopped by SIGINT.
EXIT_INTERRUPTED = 130
# Table cells show this many characters of a failure message. The log above the table has all of it.
ERROR_SUMMARY_CHARS = 100

logger = logging.getLogger("bench.serving")


class BenchError(Exception):
    """A failure that stops one variant or the whole run. Its message is shown to the user unchanged."""


class StopRequested(Exception):
    """SIGTERM arrived."""


@dataclass(frozen=True)
class Variant:
    name: str
    description: str
    # "{port}" in an argument or an environment value is replaced by the server's port, and
    # "{log_dir}" in an environment value by the directory of the server logs.
    argv: tuple[str, ...]
    env: dict[str, str] = field(default_factory=dict)
    method: str = "GET"
    # A line the server must log, to catch a server that silently runs another configuration.
    expected_log: str | None = None
    # The code the server runs: the work tree, or an exported commit for a before/after run.
    cwd: Path = REPO


def gunicorn_variant(name: str, worker_class: str, workers: int, threads: int, method: str = "GET") -> Variant:
    """gunicorn with the settings it ran with before deploy/web.py moved the API to granian."""
    return Variant(
        name=name,
        description=f"gunicorn {worker_class}, {workers} workers x {threads} thread(s), keep-alive 5 s",
        argv=(
            str(VENV_BIN / "gunicorn"),
            "--bind",
            "127.0.0.1:{port}",
            "--worker-class",
            worker_class,
            "--workers",
            str(workers),
            "--threads",
            str(threads),
            "--keep-alive",
            "5",
            # The default control socket path is shared by every gunicorn of this user.
            "--no-control-socket",
            "redgx_project.wsgi:application",
        ),
        # gunicorn replaces the sync worker with gthread when threads > 1, so sync runs get 1.
        # Prometheus metrics in files, one directory per server, as in production.
        env={"PROMETHEUS_MULTIPROC_DIR": "{log_dir}/prometheus-{port}"},
        method=method,
        expected_log=f"Using worker: {worker_class}",
    )


def web_variant(name: str, workers: int = 2, threads: int = 3, method: str = "GET") -> Variant:
    """Return the REST API as deployed: granian through deploy/web.py (the Procfile's web process)."""
    return Variant(
        name=name,
        description=f"granian (deploy/web.py), {workers} workers x {threads} thread(s)",
        argv=(str(VENV_BIN / "python"), "deploy/web.py"),
        env={
            "WEB_CONCURRENCY": str(workers),
            "WEB_THREADS": str(threads),
            "PORT": "{port}",
            "PROMETHEUS_MULTIPROC_DIR": "{log_dir}/prometheus-{port}",
        },
        method=method,
    )


def uvicorn_variant(name: str, description: str, app: str, workers: int, method: str = "GET") -> Variant:
    return Variant(
        name=name,
        description=description,
        argv=(
            str(VENV_BIN / "uvicorn"),
            app,
            "--host",
            "127.0.0.1",
            "--port",
            "{port}",
            "--workers",
            str(workers),
            "--loop",
            "uvloop",
            "--http",
            "httptools",
            "--no-access-log",
            "--log-level",
            "warning",
        ),
        method=method,
    )


FLOOR_DESCRIPTION = "bench/floor_app.py: plain ASGI + redis.asyncio, no auth, uvicorn 1 worker"
VARIANTS = [
    uvicorn_variant("floor", FLOOR_DESCRIPTION, "bench.floor_app:app", workers=1),
    gunicorn_variant("gthread-2x8", "gthread", workers=2, threads=8),
    gunicorn_variant("gthread-2x4", "gthread", workers=2, threads=4),
    gunicorn_variant("gthread-2x16", "gthread", workers=2, threads=16),
    gunicorn_variant("sync-2", "sync", workers=2, threads=1),
    uvicorn_variant(
        "uvicorn-asgi-2", "uvicorn, 2 workers, redgx_project.asgi:application", "redgx_project.asgi:application", 2
    ),
    uvicorn_variant("floor-put", FLOOR_DESCRIPTION, "bench.floor_app:app", workers=1, method="PUT"),
    gunicorn_variant("gthread-2x8-put", "gthread", workers=2, threads=8, method="PUT"),
    web_variant("granian-2x2", threads=2),
    web_variant("granian-2x3", threads=3),
    web_variant("granian-2x4", threads=4),
    web_variant("granian-2x8", threads=8),
    web_variant("granian-2x3-put", threads=3, method="PUT"),
]
FLOOR_FOR_METHOD = {"GET": "floor", "PUT": "floor-put"}


@dataclass
class Result:
    variant: Variant
    round_number: int
    requests_per_s: float | None = None
    p50_ms: float | None = None
    p99_ms: float | None = None
    requests: int | None = None
    non_2xx: int = 0
    socket_errors: int = 0
    # CPU seconds of the server's processes (master and workers) during the measured run.
    server_cpu_s: float | None = None
    # Share of the machine's CPU time used during the run by processes other than the server, wrk
    # and the Redis server, that is by other work on a shared machine.
    others_cpu_share: float | None = None
    error: str | None = None

    @property
    def server_cpu_us_per_request(self) -> float | None:
        if self.server_cpu_s is None or not self.requests:
            return None
        return self.server_cpu_s / self.requests * 1e6


# --- setup ---------------------------------------------------------------------------------------


def run_checked(argv: list[str], description: str, env: dict | None = None) -> str:
    """Run a command to completion and return its stdout. Raises BenchError with its stderr if it fails."""
    completed = subprocess.run(argv, cwd=REPO, env=env, capture_output=True, text=True, timeout=120, check=False)
    if completed.returncode != 0:
        raise BenchError(f"{description} failed (exit {completed.returncode}): {completed.stderr.strip()[-2000:]}")
    return completed.stdout


def bench_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    return {**os.environ, **BENCH_ENV, **(extra or {})}


def prepare_database() -> None:
    """Create the bench database if it is missing and apply migrations."""
    exists = run_checked(
        ["psql", "-h", PG_HOST, "-U", PG_USER, "-tAc", f"SELECT 1 FROM pg_database WHERE datname = '{DATABASE_NAME}'"],
        "Checking for the bench database",
    )
    if exists.strip() != "1":
        logger.info("Creating database %s", DATABASE_NAME)
        run_checked(["createdb", "-h", PG_HOST, "-U", PG_USER, DATABASE_NAME], "createdb")
    run_checked([str(PYTHON), "manage.py", "migrate", "--verbosity", "0"], "manage.py migrate", env=bench_env())


def create_bench_key() -> str:
    """Create an API key with read and write on the bench namespace and return the plain key."""
    output = run_checked(
        [str(PYTHON), "manage.py", "createapikey", "--namespace", NAMESPACE, "--permissions", "read,write"],
        "manage.py createapikey",
        env=bench_env(),
    )
    plain_key = output.strip()
    if not plain_key or "\n" in plain_key:
        raise BenchError(f"manage.py createapikey printed {len(output.splitlines())} lines, expected only the key")
    return plain_key


def check_tools() -> None:
    if shutil.which("wrk") is None:
        raise BenchError("wrk is not installed or not in PATH. Install it with 'apt-get install wrk'.")
    missing = [name for name in ("gunicorn", "uvicorn", "uvloop", "httptools") if not _installed(name)]
    if missing:
        raise BenchError(
            f"{', '.join(missing)} missing from .venv. Install with '.venv/bin/pip install {' '.join(missing)}'."
        )


def _installed(distribution: str) -> bool:
    try:
        metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return False
    return True


def describe_machine() -> list[str]:
    """Return lines about the machine and software versions, for the record of the run."""
    cpu_model = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if "model name" in line
        ),
        platform.processor() or "unknown CPU",
    )
    packages = ["django", "djangorestframework", "gunicorn", "uvicorn", "uvloop", "httptools", "redis", "hiredis"]
    versions = ", ".join(f"{name} {metadata.version(name)}" for name in packages if _installed(name))
    wrk_banner = subprocess.run(["wrk", "--version"], capture_output=True, text=True, check=False).stdout
    return [
        f"date: {time.strftime('%Y-%m-%d %H:%M %Z')}",
        f"machine: {os.cpu_count()} CPUs ({cpu_model}), load average {os.getloadavg()[0]:.2f} at start",
        f"python {platform.python_version()}, {versions}",
        f"redis server {_redis_server_version()}, postgresql {_postgres_version()}, {wrk_banner.splitlines()[0]}",
    ]


def describe_code() -> str:
    """Return the commit and the number of changed tracked files, since servers run the work tree."""
    try:
        commit = run_checked(["git", "rev-parse", "--short", "HEAD"], "git rev-parse").strip()
        changed = run_checked(["git", "status", "--porcelain", "--untracked-files=no"], "git status").splitlines()
    except BenchError:
        return "unknown (not a git work tree)"
    return f"commit {commit}, {len(changed)} changed tracked files"


def _redis_server_info() -> dict:
    try:
        return redis.Redis.from_url(BENCH_ENV["REDGX_DATA_REDIS_URL"]).info("server")
    except redis.RedisError as exc:
        raise BenchError(f"Redis at {BENCH_ENV['REDGX_DATA_REDIS_URL']} is not reachable: {exc}") from exc


def _redis_server_version() -> str:
    return _redis_server_info()["redis_version"]


def redis_server_pid() -> int | None:
    """Return the process id of the data Redis if it runs on this machine and can be inspected."""
    pid = _redis_server_info().get("process_id")
    try:
        psutil.Process(pid).cpu_times()
    except (psutil.Error, TypeError, ValueError):
        logger.warning("Cannot read the CPU time of Redis (pid %s), so it counts as other work", pid)
        return None
    return pid


def _postgres_version() -> str:
    return run_checked(
        ["psql", "-h", PG_HOST, "-U", PG_USER, "-tAc", "SHOW server_version", DATABASE_NAME], "psql"
    ).strip()


# --- servers -------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Server:
    """One server process group, started in its own session so that it can be stopped as a whole."""

    def __init__(self, variant: Variant, log_dir: Path, round_number: int):
        self.variant = variant
        self.port = free_port()
        self.log_path = log_dir / f"{variant.name}-round{round_number}.log"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        argv = [argument.replace("{port}", str(self.port)) for argument in self.variant.argv]
        env = bench_env(
            {
                name: value.replace("{port}", str(self.port)).replace("{log_dir}", str(self.log_path.parent))
                for name, value in self.variant.env.items()
            }
        )
        if env.get("PROMETHEUS_MULTIPROC_DIR"):
            # Each server gets an empty directory, as prometheus_client's multiprocess mode requires.
            Path(env["PROMETHEUS_MULTIPROC_DIR"]).mkdir(parents=True, exist_ok=False)
        logger.info("Starting %s on 127.0.0.1:%d", self.variant.name, self.port)
        with self.log_path.open("w") as log:
            self.process = subprocess.Popen(
                argv, cwd=self.variant.cwd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )

    def wait_until_listening(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise BenchError(f"{self.variant.name} exited with {self.process.returncode}: {self.log_tail()}")
            with contextlib.suppress(OSError):
                self.request("GET", "/")
                return
            time.sleep(0.2)
        raise BenchError(
            f"{self.variant.name} did not accept connections within {START_TIMEOUT_S} s: {self.log_tail()}"
        )

    def request(self, method: str, path: str, body: str | None = None, api_key: str | None = None) -> tuple[int, dict]:
        headers = {"Content-Type": "application/json"}
        if api_key:
            headers["X-API-Key"] = api_key
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=REQUEST_TIMEOUT_S)
        try:
            connection.request(method, path, body=body, headers=headers)
            response = connection.getresponse()
            payload = response.read()
        finally:
            connection.close()
        try:
            return response.status, json.loads(payload)
        except ValueError:
            # An HTML error page adds nothing to the server log, so only its size is kept.
            return response.status, {"non_json_body_bytes": len(payload)}

    def check_expected_log(self) -> None:
        expected = self.variant.expected_log
        if expected and expected not in self.log_path.read_text():
            raise BenchError(f"{self.variant.name} did not log '{expected}': {self.log_tail()}")

    def log_tail(self, lines: int = 15) -> str:
        try:
            tail = self.log_path.read_text().splitlines()[-lines:]
        except OSError:
            return "(no log)"
        return f"log {self.log_path}:\n  " + "\n  ".join(tail)

    def stop(self) -> None:
        """Stop the process group with SIGTERM, then SIGKILL after STOP_TIMEOUT_S."""
        if self.process is None or self.process.poll() is not None:
            return
        logger.info("Stopping %s (process group %d)", self.variant.name, self.process.pid)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            logger.warning("%s did not stop within %d s, sending SIGKILL", self.variant.name, STOP_TIMEOUT_S)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=STOP_TIMEOUT_S)
        # Workers may outlive the master briefly, so the whole group gets SIGKILL in the end.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)


def store_and_check_key(server: Server, api_key: str) -> None:
    """Store KEY with a PUT and check that a GET returns it, so that load runs measure 200s."""
    status, body = server.request("PUT", KV_PATH, body=PUT_BODY, api_key=api_key)
    if status != 200 or not body.get("ok"):
        raise BenchError(f"PUT {KV_PATH} returned {status} {body}. {server.log_tail()}")
    status, body = server.request("GET", KV_PATH, api_key=api_key)
    if status != 200 or body.get("data", {}).get("value") != VALUE:
        raise BenchError(f"GET {KV_PATH} returned {status} {body}. {server.log_tail()}")


# --- CPU accounting -----------------------------------------------------------------------------


def process_tree_cpu_s(pid: int) -> float:
    """Return the user plus system CPU seconds used so far by a process and its live descendants."""
    try:
        root = psutil.Process(pid)
        processes = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0.0
    total = 0.0
    for process in processes:
        with contextlib.suppress(psutil.NoSuchProcess):
            times = process.cpu_times()
            total += times.user + times.system
    return total


def machine_busy_cpu_s() -> float:
    times = psutil.cpu_times()
    return sum(times) - times.idle - times.iowait


def reaped_children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


# --- wrk -----------------------------------------------------------------------------------------

LATENCY_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}
PUT_SCRIPT = f"""wrk.method = "PUT"
wrk.body = '{PUT_BODY}'
wrk.headers["Content-Type"] = "application/json"
"""


def wrk_argv(url: str, api_key: str, duration_s: int, connections: int, script: Path | None) -> list[str]:
    argv = ["wrk", f"-t{WRK_THREADS}", f"-c{connections}", f"-d{duration_s}s", "--latency"]
    argv += ["-H", f"X-API-Key: {api_key}"]
    if script is not None:
        argv += ["-s", str(script)]
    return [*argv, url]


def run_wrk(argv: list[str], duration_s: int) -> str:
    completed = subprocess.run(argv, capture_output=True, text=True, timeout=duration_s + 30, check=False)
    if completed.returncode != 0:
        raise BenchError(f"wrk failed (exit {completed.returncode}): {completed.stderr.strip() or completed.stdout}")
    return completed.stdout


def parse_wrk(output: str, result: Result) -> None:
    """Fill result from wrk's text output. Raises BenchError if a required line is missing."""
    rate = re.search(r"^Requests/sec:\s+([\d.]+)", output, re.MULTILINE)
    total = re.search(r"^\s*(\d+) requests in", output, re.MULTILINE)
    p50 = re.search(r"^\s+50%\s+([\d.]+)(us|ms|s|m)\b", output, re.MULTILINE)
    p99 = re.search(r"^\s+99%\s+([\d.]+)(us|ms|s|m)\b", output, re.MULTILINE)
    if not (rate and total and p50 and p99):
        raise BenchError(f"Could not parse wrk output:\n{output}")
    result.requests_per_s = float(rate[1])
    result.requests = int(total[1])
    result.p50_ms = float(p50[1]) * LATENCY_UNITS_MS[p50[2]]
    result.p99_ms = float(p99[1]) * LATENCY_UNITS_MS[p99[2]]

    # wrk prints these two lines only when the counts are not zero.
    non_2xx = re.search(r"^\s*Non-2xx or 3xx responses:\s+(\d+)", output, re.MULTILINE)
    result.non_2xx = int(non_2xx[1]) if non_2xx else 0
    sockets = re.search(r"connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    result.socket_errors = sum(int(count) for count in sockets.groups()) if sockets else 0


# --- run -----------------------------------------------------------------------------------------


def measure(
    variant: Variant, round_number: int, args: argparse.Namespace, api_key: str, work_dir: Path, redis_pid: int | None
) -> Result:
    result = Result(variant, round_number)
    server = Server(variant, work_dir, round_number)
    try:
        server.start()
        server.wait_until_listening()
        server.check_expected_log()
        store_and_check_key(server, api_key)

        url = f"http://127.0.0.1:{server.port}{KV_PATH}"
        script = None
        if variant.method == "PUT":
            script = work_dir / "put.lua"
            script.write_text(PUT_SCRIPT)
        if args.warmup > 0:
            run_wrk(wrk_argv(url, api_key, args.warmup, args.connections, script), args.warmup)
        logger.info("Measuring %s %s for %d s (round %d)", variant.name, variant.method, args.duration, round_number)
        server_before = process_tree_cpu_s(server.process.pid)
        redis_before = process_tree_cpu_s(redis_pid) if redis_pid else 0.0
        busy_before, wrk_before, started = machine_busy_cpu_s(), reaped_children_cpu_s(), time.monotonic()
        output = run_wrk(wrk_argv(url, api_key, args.duration, args.connections, script), args.duration)
        server_cpu_s = process_tree_cpu_s(server.process.pid) - server_before
        redis_cpu_s = (process_tree_cpu_s(redis_pid) - redis_before) if redis_pid else 0.0
        busy_s, wrk_cpu_s = machine_busy_cpu_s() - busy_before, reaped_children_cpu_s() - wrk_before
        elapsed_s = time.monotonic() - started
        if server.process.poll() is not None:
            raise BenchError(f"{variant.name} exited during the run: {server.log_tail()}")

        parse_wrk(output, result)
        result.server_cpu_s = server_cpu_s
        others_cpu_s = max(0.0, busy_s - server_cpu_s - wrk_cpu_s - redis_cpu_s)
        result.others_cpu_share = others_cpu_s / (elapsed_s * (os.cpu_count() or 1))
    except BenchError as exc:
        logger.error("%s failed: %s", variant.name, exc)
        result.error = str(exc).splitlines()[0][:ERROR_SUMMARY_CHARS]
    finally:
        server.stop()
    return result


def ratio_to_floor(result: Result, results: list[Result]) -> float | None:
    """Return the result's req/s over the floor's for the same method in the same round."""
    floor_name = FLOOR_FOR_METHOD[result.variant.method]
    for floor in results:
        if floor.variant.name == floor_name and floor.round_number == result.round_number and floor.requests_per_s:
            return result.requests_per_s / floor.requests_per_s
    return None


def _format_optional(value: float | None, pattern: str) -> str:
    return "—" if value is None else pattern.format(value)


def format_runs(results: list[Result]) -> str:
    lines = [
        "| variant | round | method | req/s | p50 ms | p99 ms | non-2xx | socket errors "
        "| server CPU µs/req | others' CPU | ratio to floor |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for result in results:
        prefix = f"| {result.variant.name} | {result.round_number} | {result.variant.method} |"
        if result.error:
            lines.append(f"{prefix} failed: {result.error} | | | | | | | |")
            continue
        lines.append(
            f"{prefix} {result.requests_per_s:,.0f} | {result.p50_ms:.1f} | {result.p99_ms:.1f} "
            f"| {result.non_2xx} | {result.socket_errors} "
            f"| {_format_optional(result.server_cpu_us_per_request, '{:,.0f}')} "
            f"| {_format_optional(result.others_cpu_share, '{:.0%}')} "
            f"| {_format_optional(ratio_to_floor(result, results), '{:.2f}x')} |"
        )
    return "\n".join(lines)


def format_summary(results: list[Result], variants: list[Variant]) -> str:
    """Return one row per variant with medians over the rounds that succeeded."""
    lines = [
        "| variant | method | req/s median (min-max) | p50 ms | p99 ms | server CPU µs/req | ratio to floor |",
        "|---|---|---|---|---|---|---|",
    ]
    for variant in variants:
        done = [result for result in results if result.variant == variant and not result.error]
        if not done:
            lines.append(f"| {variant.name} | {variant.method} | no successful round | | | | |")
            continue
        rates = [result.requests_per_s for result in done]
        ratios = [ratio for ratio in (ratio_to_floor(result, results) for result in done) if ratio is not None]
        cpu = [result.server_cpu_us_per_request for result in done if result.server_cpu_us_per_request is not None]
        lines.append(
            f"| {variant.name} | {variant.method} "
            f"| {statistics.median(rates):,.0f} ({min(rates):,.0f}-{max(rates):,.0f}) "
            f"| {statistics.median(result.p50_ms for result in done):.1f} "
            f"| {statistics.median(result.p99_ms for result in done):.1f} "
            f"| {_format_optional(statistics.median(cpu) if cpu else None, '{:,.0f}')} "
            f"| {_format_optional(statistics.median(ratios) if ratios else None, '{:.2f}x')} |"
        )
    return "\n".join(lines)


def check_load_args(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Reject --duration, --rounds, and --warmup and --connections where a bench has them, out of range."""
    if not 1 <= args.duration <= MAX_DURATION_S:
        parser.error(f"--duration must be 1 to {MAX_DURATION_S} seconds, got {args.duration}")
    if not 1 <= args.rounds <= MAX_ROUNDS:
        parser.error(f"--rounds must be 1 to {MAX_ROUNDS}, got {args.rounds}")
    warmup = getattr(args, "warmup", 0)
    if not 0 <= warmup <= MAX_DURATION_S:
        parser.error(f"--warmup must be 0 to {MAX_DURATION_S} seconds, got {warmup}")
    connections = getattr(args, "connections", WRK_THREADS)
    if connections < WRK_THREADS:
        parser.error(f"--connections must be at least {WRK_THREADS} (one per wrk thread), got {connections}")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--duration", type=int, default=MAX_DURATION_S, help=f"Seconds of each measured wrk run, 1 to {MAX_DURATION_S}."
    )
    parser.add_argument("--connections", type=int, default=50, help="Open HTTP connections that wrk keeps busy.")
    parser.add_argument("--warmup", type=int, default=2, help="Seconds of the wrk warm-up before each run. 0 skips it.")
    parser.add_argument(
        "--rounds",
        type=int,
        default=1,
        help=f"Times to run the whole list of variants, 1 to {MAX_ROUNDS}. More than 1 adds a table of medians.",
    )
    names = [variant.name for variant in VARIANTS]
    parser.add_argument(
        "--variants",
        default=",".join(names),
        help=f"Comma-separated variants to run, in this order. Default: all ({', '.join(names)}).",
    )
    args = parser.parse_args(argv)

    check_load_args(parser, args)
    requested = args.variants.split(",")
    unknown = [name for name in requested if name not in names]
    if unknown:
        parser.error(f"unknown variant(s) {', '.join(unknown)}; choose from {', '.join(names)}")
    by_name = {variant.name: variant for variant in VARIANTS}
    args.selected = [by_name[name] for name in dict.fromkeys(requested)]
    return args


def _raise_stop(signum, frame) -> None:
    raise StopRequested


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", stream=sys.stderr)
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _raise_stop)
    os.chdir(REPO)
    try:
        check_tools()
        prepare_database()
        api_key = create_bench_key()
        header = describe_machine()
        redis_pid = redis_server_pid()
        code_at_start = describe_code()
    except BenchError as exc:
        logger.error("%s", exc)
        return 1
    except (KeyboardInterrupt, StopRequested):
        logger.warning("Stopped during setup. No server was started")
        return EXIT_INTERRUPTED

    work_dir = Path(tempfile.mkdtemp(prefix="redgx-bench-"))
    results: list[Result] = []
    interrupted = False
    try:
        for round_number in range(1, args.rounds + 1):
            for variant in args.selected:
                results.append(measure(variant, round_number, args, api_key, work_dir, redis_pid))
    except (KeyboardInterrupt, StopRequested):
        logger.warning("Stopped before the end. The results so far follow")
        interrupted = True

    code_at_end = describe_code()
    if code_at_end != code_at_start:
        logger.warning(
            "The code changed during the run (now %s), so rounds may have measured different code", code_at_end
        )

    print("\n".join([header[0], f"code: {code_at_start}", *header[1:]]))
    print(
        f"load: wrk -t{WRK_THREADS} -c{args.connections} -d{args.duration}s --latency "
        f'-H "X-API-Key: <bench key>" http://127.0.0.1:PORT{KV_PATH} (PUT body {PUT_BODY}), '
        f"after a {args.warmup} s warm-up"
    )
    print()
    for variant in args.selected:
        print(f"- {variant.name}: {variant.description}")
    print()
    print(format_runs(results))
    if args.rounds > 1:
        print()
        print(format_summary(results, args.selected))
    print(f"\nServer logs: {work_dir}")

    invalid = sorted({result.variant.name for result in results if result.error or result.non_2xx})
    if invalid:
        logger.error("Failed or with non-2xx responses: %s", ", ".join(invalid))
        return 1
    return EXIT_INTERRUPTED if interrupted else 0


if __name__ == "__main__":
    sys.exit(main())
