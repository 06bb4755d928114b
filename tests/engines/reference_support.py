"""Start a reference engine under deploy/engines/ as a real process on a free loopback port.

This module imports neither tests.conftest nor Django, because the engines need neither. So the
engine test files also run with `--noconftest -p no:django` while the gateway's setup is broken.
"""

import contextlib
import os
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
STARTUP_TIMEOUT_S = 120.0


class EngineProcess:
    """An engine process whose output goes to test-artifacts/<name>.log."""

    def __init__(self, name: str, args: list[str], env: dict[str, str]) -> None:
        log_dir = ROOT / "test-artifacts"
        log_dir.mkdir(exist_ok=True)
        self.log_path = log_dir / f"{name}.log"
        self.log = self.log_path.open("wb")
        self.process = subprocess.Popen(args, cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT)

    def output(self) -> str:
        if not self.log.closed:
            self.log.flush()
        return self.log_path.read_text(errors="replace")

    def stop(self, timeout: float = 10) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout)
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(5)
        self.log.close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class RunningEngine:
    url: str
    process: EngineProcess
    # Every /health response seen while the engine started, the last one being the first 200.
    startup_responses: list[httpx.Response] = field(default_factory=list)


def start_reference_engine(kind: str, **settings: str) -> RunningEngine:
    """Start deploy/engines/<kind>/server.py with .venv-engine-<kind> and wait until /health returns 200.

    Fail the test, with the engine's log, when the venv is missing, the process exits or time runs out.
    """
    name = f"{kind}-engine"
    python = ROOT / f".venv-engine-{kind}" / "bin" / "python"
    if not python.exists():
        pytest.fail(f"engine venv not found at {python}: build it with `make engine-venv-{kind}`")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    environment = {
        **os.environ,
        "ENGINE_HOST": "127.0.0.1",
        "ENGINE_PORT": str(port),
        "PYTHONUNBUFFERED": "1",
        **settings,
    }
    process = EngineProcess(name, [str(python), str(Path("deploy/engines") / kind / "server.py")], environment)
    engine = RunningEngine(url=url, process=process)
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    with httpx.Client(timeout=2.0) as client:
        while time.monotonic() < deadline:
            if process.process.poll() is not None:
                log = process.output()
                process.stop()
                pytest.fail(f"{name} exited with code {process.process.returncode} during startup:\n{log}")
            try:
                response = client.get(f"{url}/health")
            except httpx.TransportError:
                time.sleep(0.1)
                continue
            engine.startup_responses.append(response)
            if response.status_code == 200:
                return engine
            time.sleep(0.1)
    log = process.output()
    process.stop()
    pytest.fail(f"{name} was not healthy after {STARTUP_TIMEOUT_S:.0f} s:\n{log}")


def assert_health_503_before_200(engine: RunningEngine) -> None:
    """Check the startup responses: 503 with the protocol's error body while loading, then 200."""
    not_ready = [response for response in engine.startup_responses if response.status_code != 200]
    assert not_ready, "no 503 seen before the model was loaded"
    assert {response.status_code for response in not_ready} == {503}
    assert not_ready[0].json() == {"error": "the model is not loaded yet", "error_type": "unhealthy"}
    assert engine.startup_responses[-1].status_code == 200
