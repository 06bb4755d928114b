"""Start the RedGX processes and the reference engine for the benches, and drive wrk with a body.

The web server, the Dramatiq worker and the MiniLM engine run as process groups on 127.0.0.1
through bench.serving.Server, so they are stopped as a whole when a bench ends. The settings
and databases are those of bench/serving.py (REDGX_BENCH_* variables).
"""

import contextlib
import http.client
import json
import logging
import os
import tempfile
import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path

import psutil

from bench import serving
from bench.serving import REPO, VENV_BIN, BenchError, Server, Variant

logger = logging.getLogger("bench.stack")

ENGINE_PYTHON = REPO / ".venv-engine" / "bin" / "python"
MINILM_SERVER = REPO / "deploy" / "engines" / "minilm" / "server.py"
ENGINE_START_TIMEOUT_S = 120
WORKER_READY_LOG = "is ready for action"
WORKER_START_TIMEOUT_S = 60


def web_variant(name: str = "web", workers: int = 2, threads: int = 3, env: dict[str, str] | None = None) -> Variant:
    """Return the web server as deployed (deploy/web.py), with extra settings in env."""
    variant = serving.web_variant(name, workers=workers, threads=threads)
    return replace(variant, env={**variant.env, **(env or {})})


def worker_variant(engine_url: str, env: dict[str, str] | None = None, threads: int = 64) -> Variant:
    """Return the Procfile's inference worker: one Dramatiq process, its own metrics directory.

    apps.metrics.worker is left out: its exporter binds a fixed port (9191), which a bench
    that runs next to a live stack must not take.
    """
    return Variant(
        name="worker",
        description=f"dramatiq apps.inference.worker, 1 process x {threads} threads",
        argv=(str(VENV_BIN / "dramatiq"), "apps.inference.worker", "--processes", "1", "--threads", str(threads)),
        env={
            "REDGX_EMBED_ENGINE_URL": engine_url,
            "dramatiq_worker_timeout": "100",
            "PROMETHEUS_MULTIPROC_DIR": "{log_dir}/prometheus-worker-{port}",
            **(env or {}),
        },
    )


def minilm_variant(env: dict[str, str] | None = None, cpus: list[int] | None = None) -> Variant:
    """Return the reference engine; with cpus, it runs on those CPUs only, one torch thread each."""
    argv: tuple[str, ...] = (str(ENGINE_PYTHON), str(MINILM_SERVER))
    env = {"ENGINE_HOST": "127.0.0.1", "ENGINE_PORT": "{port}", "ENGINE_LOG_LEVEL": "WARNING", **(env or {})}
    description = "deploy/engines/minilm/server.py in .venv-engine (all-MiniLM-L6-v2, CPU"
    if cpus:
        argv = ("taskset", "--cpu-list", ",".join(map(str, cpus)), *argv)
        env["ENGINE_TORCH_THREADS"] = str(len(cpus))
        description += f", pinned to CPU {','.join(map(str, cpus))}, {len(cpus)} torch thread(s))"
    else:
        description += ", 2 torch threads)"
    return Variant(name="minilm", description=description, argv=argv, env=env)


def pin_to_other_cpus(engine_cpus: list[int]) -> list[int]:
    """Restrict this process, and so every process it starts later, to the CPUs the engine does not use."""
    others = sorted(set(range(os.cpu_count() or 1)) - set(engine_cpus))
    if not others:
        raise BenchError(f"No CPU is left for the gateway when the engine takes CPUs {engine_cpus}")
    os.sched_setaffinity(0, others)
    return others


def start_web(work_dir: Path, variant: Variant | None = None) -> Server:
    server = Server(variant or web_variant(), work_dir, round_number=1)
    server.start()
    try:
        server.wait_until_listening()
        server.check_expected_log()
    except BenchError:
        server.stop()
        raise
    return server


def start_worker(work_dir: Path, variant: Variant) -> Server:
    """Start the worker and wait until Dramatiq logs that it is ready."""
    server = Server(variant, work_dir, round_number=1)
    server.start()
    deadline = time.monotonic() + WORKER_START_TIMEOUT_S
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise BenchError(f"The worker exited with {server.process.returncode}: {server.log_tail()}")
        if WORKER_READY_LOG in server.log_path.read_text():
            return server
        time.sleep(0.2)
    server.stop()
    raise BenchError(f"The worker was not ready within {WORKER_START_TIMEOUT_S} s: {server.log_tail()}")


def start_minilm(work_dir: Path, env: dict[str, str] | None = None, cpus: list[int] | None = None) -> Server:
    """Start the reference engine and wait until /health returns 200, which means the model is loaded."""
    if not ENGINE_PYTHON.exists():
        raise BenchError(f"{ENGINE_PYTHON} is missing. Create the engine venv with 'make engine-venv'.")
    server = Server(minilm_variant(env, cpus), work_dir, round_number=1)
    server.start()
    deadline = time.monotonic() + ENGINE_START_TIMEOUT_S
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise BenchError(f"The engine exited with {server.process.returncode}: {server.log_tail()}")
        with contextlib.suppress(OSError):
            connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
            try:
                connection.request("GET", "/health")
                if connection.getresponse().status == 200:
                    return server
            finally:
                connection.close()
        time.sleep(0.5)
    server.stop()
    raise BenchError(f"The engine did not load within {ENGINE_START_TIMEOUT_S} s: {server.log_tail()}")


# --- wrk with a request body ---------------------------------------------------------------------


def wrk_script(method: str, body: str | None = None, headers: dict[str, str] | None = None) -> str:
    """Return a wrk Lua script that sends every request with this method, body and headers."""
    lines = [f'wrk.method = "{method}"']
    if body is not None:
        # A Lua long string takes the JSON as it is, quotes included.
        lines.append(f"wrk.body = [==[{body}]==]")
        lines.append('wrk.headers["Content-Type"] = "application/json"')
    for name, value in (headers or {}).items():
        lines.append(f'wrk.headers["{name}"] = "{value}"')
    return "\n".join(lines) + "\n"


# wrk's summary() hook prints the count of each status, which the default report leaves out.
STATUS_COUNT_SCRIPT = """
-- A global, so that done() can read each thread's table with thread:get().
statuses = {}
local threads = {}
function setup(thread)
  table.insert(threads, thread)
end
function init(args)
  statuses = {}
end
function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end
function done(summary, latency, requests)
  local totals = {}
  for _, thread in ipairs(threads) do
    local counts = thread:get("statuses")
    for status, count in pairs(counts) do
      totals[status] = (totals[status] or 0) + count
    end
  end
  for status, count in pairs(totals) do
    io.write(string.format("status %d %d\\n", status, count))
  end
end
"""


@dataclass
class LoadRun:
    """Figures of one wrk run, with the server CPU time it cost."""

    name: str
    requests_per_s: float
    requests: int
    p50_ms: float
    p99_ms: float
    non_2xx: int
    socket_errors: int
    server_cpu_us_per_request: float | None
    load_average: float
    statuses: dict[int, int]


def run_wrk(
    name: str,
    url: str,
    api_key: str,
    script: str,
    work_dir: Path,
    duration_s: int,
    connections: int,
    server_pids: list[int],
    count_statuses: bool = False,
) -> LoadRun:
    """Run wrk against url with the script and return its figures; server_pids are the process trees to time."""
    script_path = work_dir / f"{name}.lua"
    script_path.write_text(script + (STATUS_COUNT_SCRIPT if count_statuses else ""))
    argv = serving.wrk_argv(url, api_key, duration_s, connections, script_path)
    cpu_before = sum(serving.process_tree_cpu_s(pid) for pid in server_pids)
    output = serving.run_wrk(argv, duration_s)
    cpu_s = sum(serving.process_tree_cpu_s(pid) for pid in server_pids) - cpu_before
    result = serving.Result(Variant(name, name, ()), 1)
    serving.parse_wrk(output, result)
    statuses = {}
    for line in output.splitlines():
        if line.startswith("status "):
            _, status, count = line.split()
            statuses[int(status)] = int(count)
    return LoadRun(
        name=name,
        requests_per_s=result.requests_per_s,
        requests=result.requests,
        p50_ms=result.p50_ms,
        p99_ms=result.p99_ms,
        non_2xx=result.non_2xx,
        socket_errors=result.socket_errors,
        server_cpu_us_per_request=cpu_s / result.requests * 1e6 if result.requests else None,
        load_average=os.getloadavg()[0],
        statuses=statuses,
    )


def format_load_runs(runs: list[LoadRun], unit_per_request: dict[str, int] | None = None) -> str:
    lines = [
        "| run | req/s | p50 ms | p99 ms | non-2xx | socket errors | server CPU µs/req | load avg |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for run in runs:
        cpu = "—" if run.server_cpu_us_per_request is None else f"{run.server_cpu_us_per_request:,.0f}"
        lines.append(
            f"| {run.name} | {run.requests_per_s:,.0f} | {run.p50_ms:.1f} | {run.p99_ms:.1f} | {run.non_2xx} "
            f"| {run.socket_errors} | {cpu} | {run.load_average:.2f} |"
        )
    return "\n".join(lines)


# --- processes -----------------------------------------------------------------------------------


def tree_rss_mb(pid: int) -> float:
    """Return the resident memory in MiB of a process and its descendants."""
    total = 0
    with contextlib.suppress(psutil.NoSuchProcess):
        root = psutil.Process(pid)
        for process in [root, *root.children(recursive=True)]:
            with contextlib.suppress(psutil.NoSuchProcess):
                total += process.memory_info().rss
    return total / 2**20


def tree_open_files_and_sockets(pid: int) -> tuple[int, int]:
    """Return the open file descriptors and the TCP connections of a process and its descendants."""
    descriptors, sockets = 0, 0
    with contextlib.suppress(psutil.NoSuchProcess):
        root = psutil.Process(pid)
        for process in [root, *root.children(recursive=True)]:
            with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
                descriptors += process.num_fds()
                sockets += len(process.net_connections(kind="tcp"))
    return descriptors, sockets


def api_request(port: int, method: str, path: str, api_key: str, body=None, timeout: float = 30) -> tuple[int, dict]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    headers = {"X-API-Key": api_key, "Content-Type": "application/json"}
    try:
        connection.request(method, path, body=None if body is None else json.dumps(body), headers=headers)
        response = connection.getresponse()
        payload = response.read()
    finally:
        connection.close()
    return response.status, json.loads(payload) if payload else {}


def prepare(work_prefix: str) -> tuple[str, Path]:
    """Check the tools, migrate the bench database, create a key; return the key and a work directory."""
    serving.check_tools()
    serving.prepare_database()
    api_key = serving.create_bench_key()
    return api_key, Path(tempfile.mkdtemp(prefix=work_prefix))


def header_lines() -> list[str]:
    lines = serving.describe_machine()
    return [lines[0], f"code: {serving.describe_code()}", *lines[1:]]


def redis_commands_per_request(
    port: int, api_key: str, method: str, path: str, body=None, requests: int = 200, statuses=(200, 202)
) -> dict[str, float]:
    """Send requests one at a time and return the Redis commands per request, by command name.

    The counts come from INFO commandstats of the bench's data Redis, so they include the
    inference Redis only when both are databases of the same server, as in the default setup.
    Background work of the server (key usage flushes, metrics) adds to them.
    """
    client = serving.redis.Redis.from_url(serving.BENCH_ENV["REDGX_DATA_REDIS_URL"])
    before = client.info("commandstats")
    for _ in range(requests):
        status, reply = api_request(port, method, path, api_key, body)
        if status not in statuses:
            raise BenchError(f"{method} {path} returned {status} while counting Redis commands: {str(reply)[:300]}")
    after = client.info("commandstats")
    counts = {}
    for name, stats in after.items():
        calls = stats["calls"] - before.get(name, {}).get("calls", 0)
        # INFO itself is the one call this function adds.
        if calls and name != "cmdstat_info":
            counts[name.removeprefix("cmdstat_")] = calls / requests
    return dict(sorted(counts.items(), key=lambda item: -item[1]))


def format_commands(counts: dict[str, float]) -> str:
    total = sum(counts.values())
    listed = ", ".join(f"{name} {count:.2f}" for name, count in counts.items() if count >= 0.01)
    return f"{total:.2f} commands per request ({listed})"


class RssSampler(threading.Thread):
    """Samples the RSS, open file descriptors and TCP connections of process trees."""

    def __init__(self, pids: dict[str, int], interval_s: float = 1.0):
        super().__init__(daemon=True)
        self.pids = pids
        self.interval_s = interval_s
        self.samples: dict[str, list[tuple[float, int, int]]] = {name: [] for name in pids}
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.wait(self.interval_s):
            self.sample()

    def sample(self) -> None:
        for name, pid in self.pids.items():
            descriptors, sockets = tree_open_files_and_sockets(pid)
            self.samples[name].append((tree_rss_mb(pid), descriptors, sockets))

    def by_minute(self) -> list[str]:
        """Return one row per minute with each process's maximum RSS, descriptors and connections."""
        per_minute = max(1, round(60 / self.interval_s))
        names = list(self.samples)
        lines = ["| minute | " + " | ".join(f"{name} RSS MiB / fds / TCP (max)" for name in names) + " |"]
        lines.append("|---" * (len(names) + 1) + "|")
        count = max(len(samples) for samples in self.samples.values())
        for start in range(0, count, per_minute):
            cells = []
            for name in names:
                window = self.samples[name][start : start + per_minute]
                if not window:
                    cells.append("—")
                    continue
                rss, fds, tcp = zip(*window, strict=True)
                cells.append(f"{max(rss):.0f} / {max(fds)} / {max(tcp)}")
            lines.append(f"| {start // per_minute + 1} | " + " | ".join(cells) + " |")
        return lines

    def summary(self) -> list[str]:
        lines = ["| process | RSS MiB first / max / last | open fds first / max / last | TCP first / max / last |"]
        lines.append("|---|---|---|---|")
        for name, samples in self.samples.items():
            if not samples:
                continue
            rss, fds, tcp = zip(*samples, strict=True)
            lines.append(
                f"| {name} | {rss[0]:.0f} / {max(rss):.0f} / {rss[-1]:.0f} | {fds[0]} / {max(fds)} / {fds[-1]} "
                f"| {tcp[0]} / {max(tcp)} / {tcp[-1]} |"
            )
        return lines
