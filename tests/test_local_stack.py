"""deploy/local/run.py end to end: embedded valkey, SQLite, web and worker with a fake engine, then SIGTERM."""

import os
import re
import signal
import stat
import subprocess
import sys
import threading
import time

import httpx
import psutil
import pytest

from tests.conftest import ROOT, free_port
from tests.engines.fake_tei import FakeTeiEngine

RUN_SCRIPT = ROOT / "deploy" / "local" / "run.py"
BANNER_TIMEOUT_S = 60
STOP_TIMEOUT_S = 30
EMBED_TIMEOUT_S = 20
KEY_LINE = re.compile(r"^Demo API key \(.*\): (\S+)$")
# The test settings put these in os.environ, but run.py must pick its own local defaults.
TEST_SETTINGS_VARIABLES = (
    "DATABASE_URL",
    "REDGX_DATA_REDIS_URL",
    "REDGX_INFERENCE_REDIS_URL",
    "DJANGO_SECRET_KEY",
    "DJANGO_SETTINGS_MODULE",
)
CHILDREN = ("valkey-data", "valkey-inference", "worker", "web")


class StackProcess:
    """run.py as a subprocess, with its output collected by a thread and the demo key read from the banner."""

    def __init__(self, env: dict[str, str]):
        self.lines: list[str] = []
        self.key = ""
        self.banner_printed = threading.Event()
        self.process = subprocess.Popen(
            [sys.executable, str(RUN_SCRIPT)],
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        for line in self.process.stdout:
            line = line.rstrip("\n")
            self.lines.append(line)
            match = KEY_LINE.match(line)
            if match:
                self.key = match.group(1)
                self.banner_printed.set()

    def wait_for_banner(self, timeout_s: float) -> bool:
        """Wait until the banner is printed. Return False on timeout or if run.py exits first."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and self.process.poll() is None:
            if self.banner_printed.wait(0.2):
                return True
        return self.banner_printed.is_set()

    def output(self) -> str:
        return "\n".join(self.lines)

    def descendants(self) -> list[psutil.Process]:
        return psutil.Process(self.process.pid).children(recursive=True)

    def stop(self, descendants: list[psutil.Process]) -> None:
        """Stop run.py if a failed check left it running, and kill any child it left behind."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        for process in descendants:
            if is_alive(process):
                process.kill()
        self.reader.join(timeout=5)


def is_alive(process: psutil.Process) -> bool:
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def local_env(port: int, run_dir, engine_url: str) -> dict[str, str]:
    env = {name: value for name, value in os.environ.items() if name not in TEST_SETTINGS_VARIABLES}
    env.pop("DJANGO_DEBUG", None)
    env.update(PORT=str(port), REDGX_RUN_DIR=str(run_dir), REDGX_EMBED_ENGINE_URL=engine_url, PYTHONUNBUFFERED="1")
    return env


def wait_for_embedding(client: httpx.Client, location: str) -> dict:
    deadline = time.monotonic() + EMBED_TIMEOUT_S
    while True:
        job = client.get(location).json()["data"]
        if job["status"] in {"done", "failed"} or time.monotonic() > deadline:
            return job
        time.sleep(0.2)


@pytest.mark.timeout(90)
def test_local_stack_runs_and_stops_cleanly(tmp_path):
    port = free_port()
    run_dir = tmp_path / "run"
    descendants: list[psutil.Process] = []
    with FakeTeiEngine() as engine:
        stack = StackProcess(local_env(port, run_dir, engine.url))
        try:
            printed = stack.wait_for_banner(BANNER_TIMEOUT_S)
            assert printed, (
                f"run.py printed no banner within {BANNER_TIMEOUT_S} s (exit code {stack.process.poll()}):\n"
                f"{stack.output()}"
            )
            descendants = stack.descendants()
            command_lines = [" ".join(process.cmdline()) for process in descendants]
            assert sum("valkey-server" in line for line in command_lines) == 2, command_lines
            assert any("deploy/web.py" in line for line in command_lines), command_lines
            assert any("dramatiq" in line for line in command_lines), command_lines

            output = stack.output()
            assert f"RedGX is running at http://127.0.0.1:{port}" in output
            assert f"sqlite:///{run_dir / 'db.sqlite3'}" in output
            assert "Data Redis:      embedded valkey-server" in output
            assert "Inference Redis: embedded valkey-server" in output
            assert stat.S_IMODE((run_dir / "secret_key").stat().st_mode) == 0o600
            assert (run_dir / "demo-key").read_text().strip() == stack.key

            base_url = f"http://127.0.0.1:{port}/api/v1/ns/shared"
            headers = {"X-API-Key": stack.key}
            with httpx.Client(base_url=base_url, headers=headers, timeout=5, trust_env=False) as client:
                put = client.put("/kv/greeting", json={"value": "hello"})
                assert put.status_code == 200, put.text
                got = client.get("/kv/greeting")
                assert got.status_code == 200, got.text
                assert got.json()["data"]["value"] == "hello"

                submitted = client.post("/gpu/embed", json={"inputs": ["A man is playing a guitar.", "Someone plays."]})
                assert submitted.status_code == 202, submitted.text
                job = wait_for_embedding(client, submitted.headers["Location"])
                assert job["status"] == "done", f"{job}\n{stack.output()}"
                assert len(job["vectors"]) == 2
                assert engine.calls == [2]

            stack.process.send_signal(signal.SIGTERM)
            returncode = stack.process.wait(STOP_TIMEOUT_S)
            stack.reader.join(timeout=5)
            assert returncode == 0, stack.output()
            output = stack.output()
            for name in CHILDREN:
                assert f"{name} stopped (exit code 0)" in output, f"{name} did not stop with exit code 0:\n{output}"
        finally:
            stack.stop(descendants)

    leftovers = [process for process in descendants if is_alive(process)]
    assert leftovers == [], f"processes left after run.py exited: {leftovers}"
