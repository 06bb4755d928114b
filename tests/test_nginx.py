"""The application behind Nginx as deploy/nginx/ configures it: HTTPS, WebSocket upgrade, limits.

Nginx comes from Debian's packages (.ci/run installs it). The test renders the shipped
template, checks it with `nginx -t`, and runs Nginx on loopback in front of gunicorn and the
ASGI process, with a self-signed certificate made for the run.
"""

import re
import shutil
import ssl
import subprocess
from pathlib import Path

import httpx
import pytest

from apps.tenancy.models import ApiKey, Namespace

from .conftest import READ, WRITE, ManagedProcess, free_port, make_key, start_web
from .pubsub_support import WS_PATH, Client, start_ws

pytestmark = [
    pytest.mark.skipif(shutil.which("nginx") is None, reason="nginx is not installed (.ci/run installs it)"),
    # pytest-django creates the test database only when a collected test requests it.
    pytest.mark.django_db,
]

TEMPLATE = Path(__file__).resolve().parent.parent / "deploy" / "nginx" / "redgx.conf.template"
# Low enough that a short burst of requests meets the per-client limit.
RATE = "5r/s"
BURST = 5
BODY_LIMIT = "2m"

MAIN_CONFIG = """
daemon off;
user root;
worker_processes 1;
pid {run}/nginx.pid;
error_log {run}/error.log notice;
events {{ worker_connections 256; }}
http {{
    default_type application/octet-stream;
    access_log {run}/access.log;
    client_body_temp_path {run}/body;
    proxy_temp_path {run}/proxy;
    fastcgi_temp_path {run}/fastcgi;
    uwsgi_temp_path {run}/uwsgi;
    scgi_temp_path {run}/scgi;
    include {run}/redgx.conf;
}}
"""


def render_template(values: dict[str, str]) -> str:
    """Fill ${NAME} placeholders as envsubst does, and fail on any placeholder without a value."""
    text = TEMPLATE.read_text()
    missing = sorted(set(re.findall(r"\$\{(\w+)\}", text)) - set(values))
    assert not missing, f"template placeholders without a value: {missing}"
    return re.sub(r"\$\{(\w+)\}", lambda match: values[match.group(1)], text)


def make_certificate(directory: Path) -> tuple[Path, Path]:
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
            "-keyout", str(key), "-out", str(cert),
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


@pytest.fixture(scope="module")
def stack(django_db_setup, django_db_blocker, tmp_path_factory):
    run = tmp_path_factory.mktemp("nginx")
    cert, key = make_certificate(run)
    web_port, ws_port, http_port, https_port = free_port(), free_port(), free_port(), free_port()
    (run / "redgx.conf").write_text(
        render_template(
            {
                "REDGX_NGINX_RATE": RATE,
                "REDGX_NGINX_BURST": str(BURST),
                "REDGX_NGINX_WS_PER_ADDRESS": "20",
                "REDGX_WEB_UPSTREAM": f"127.0.0.1:{web_port}",
                "REDGX_WS_UPSTREAM": f"127.0.0.1:{ws_port}",
                "REDGX_HTTP_LISTEN": f"127.0.0.1:{http_port}",
                "REDGX_HTTPS_LISTEN": f"127.0.0.1:{https_port}",
                "REDGX_PUBLIC_ORIGIN": f"https://localhost:{https_port}",
                "REDGX_SERVER_NAME": "localhost",
                "REDGX_TLS_CERT": str(cert),
                "REDGX_TLS_KEY": str(key),
                "REDGX_MAX_BODY": BODY_LIMIT,
            }
        )
    )
    config = run / "nginx.conf"
    config.write_text(MAIN_CONFIG.format(run=run))
    checked = subprocess.run(["nginx", "-t", "-p", str(run), "-c", str(config)], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stderr

    trusted = {"REDGX_TRUSTED_PROXIES": "127.0.0.1/32"}
    web = start_web("nginx-web", web_port, **trusted)
    ws = start_ws("nginx-ws", ws_port, **trusted)
    nginx = ManagedProcess("nginx", ["nginx", "-p", str(run), "-c", str(config)], {"PATH": "/usr/sbin:/usr/bin"})
    context = ssl.create_default_context(cafile=str(cert))
    base = f"https://localhost:{https_port}"
    keys: list[str] = []
    try:
        _wait_for_tls(base, context, nginx)
        with django_db_blocker.unblock():
            keys.extend(make_key({"alpha": {READ, WRITE}}) for _ in range(3))
        yield {
            "base": base,
            "http": f"http://localhost:{http_port}",
            "ssl": context,
            "keys": keys,
            "ws_port": https_port,
        }
    finally:
        nginx.stop()
        ws.stop()
        web.stop()
        # The keys were committed outside any test's transaction, so later tests would see them.
        with django_db_blocker.unblock():
            ApiKey.objects.filter(digest__in=[ApiKey.digest_of(key) for key in keys]).delete()
            Namespace.objects.filter(name="alpha", grants__isnull=True).delete()


def _wait_for_tls(base: str, context: ssl.SSLContext, nginx: ManagedProcess) -> None:
    for _ in range(100):
        try:
            httpx.get(f"{base}/healthz", verify=context, timeout=1)
            return
        except httpx.TransportError:
            subprocess.run(["sleep", "0.1"], check=True)
    raise RuntimeError(f"nginx did not start:\n{nginx.output()}")


def test_rest_call_over_https(stack):
    headers = {"X-API-Key": stack["keys"][0]}
    with httpx.Client(base_url=stack["base"], verify=stack["ssl"], headers=headers, timeout=10) as client:
        stored = client.put("/api/v1/ns/alpha/kv/through-nginx", json={"value": "héllo"})
        assert stored.status_code == 200, stored.text
        response = client.get("/api/v1/ns/alpha/kv/through-nginx")
    assert response.status_code == 200
    assert response.json() == {
        "ok": True,
        "data": {"key": "through-nginx", "value": "héllo", "encoding": "utf-8", "ttl_ms": None},
    }
    assert response.headers["strict-transport-security"].startswith("max-age=63072000")
    assert "server" not in response.headers or "nginx/" not in response.headers["server"]


def test_plain_http_redirects_to_https(stack):
    response = httpx.get(f"{stack['http']}/api/v1/ns/alpha/kv/x?op=get", timeout=5)
    assert response.status_code == 301
    assert response.headers["location"] == f"{stack['base']}/api/v1/ns/alpha/kv/x?op=get"


def test_oversized_body_gets_413_envelope(stack):
    body = b'{"value": "' + b"x" * (3 * 1024 * 1024) + b'"}'
    response = httpx.put(
        f"{stack['base']}/api/v1/ns/alpha/kv/big",
        content=body,
        headers={"X-API-Key": stack["keys"][0], "Content-Type": "application/json"},
        verify=stack["ssl"],
        timeout=10,
    )
    assert response.status_code == 413
    assert response.json()["ok"] is False
    assert response.json()["error"]["code"] == "payload_too_large"


def test_websocket_subscription_through_nginx(stack):
    key = stack["keys"][1]
    url = f"wss://localhost:{stack['ws_port']}" + WS_PATH.format(namespace="alpha")
    client = Client(url, key, ssl=stack["ssl"])
    try:
        client.subscribe("news")
        published = httpx.post(
            f"{stack['base']}/api/v1/ns/alpha/pubsub/news",
            json={"data": "over tls"},
            headers={"X-API-Key": key},
            verify=stack["ssl"],
            timeout=10,
        )
        assert published.json()["data"]["receivers"] == 1
        [message] = client.messages(1)
        assert message["type"] == "message"
        assert message["channel"] == "news"
        assert message["data"] == "over tls"
    finally:
        client.close()


def test_request_limit_per_api_key(stack):
    flooder, other = stack["keys"][2], stack["keys"][0]
    with httpx.Client(base_url=stack["base"], verify=stack["ssl"], timeout=10) as client:
        statuses = [
            client.get("/api/v1/ns/alpha/kv/limited", headers={"X-API-Key": flooder}).status_code for _ in range(25)
        ]
        refused = client.get("/api/v1/ns/alpha/kv/limited", headers={"X-API-Key": flooder})
        # Another key has its own budget, although it comes from the same address.
        other_status = client.get("/api/v1/ns/alpha/kv/limited", headers={"X-API-Key": other}).status_code
    assert statuses.count(404) >= 1 + BURST
    assert 429 in statuses
    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "rate_limited"
    assert other_status == 404
