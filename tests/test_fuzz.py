"""Schemathesis against a live gunicorn: generated requests for every documented operation.

The schema comes from the same generator that serves /docs/schema.json. Each operation
becomes one pytest test. It runs schemathesis's examples and coverage phases, then sends up
to REDGX_FUZZ_MAX_EXAMPLES generated requests (default 25) in the fuzzing phase. No response
may be a 5xx, and every body must be the JSON envelope. `make fuzz` runs the same tests with
more examples and a random seed.

Requests go only to the gunicorn that this module starts on 127.0.0.1, with a key that
reads and writes namespace "alpha", so the ``namespace`` path parameter is always "alpha".
"""

import json
import os

import pytest
import schemathesis
from drf_spectacular.generators import SchemaGenerator
from hypothesis import HealthCheck, settings
from schemathesis import GenerationMode

from .conftest import READ, WRITE, free_port, make_key, start_web

MAX_EXAMPLES = int(os.environ.get("REDGX_FUZZ_MAX_EXAMPLES", "25"))
# With the fixed seed, `make test` sends the same requests on every run. `make fuzz` sets "random".
SEED = os.environ.get("REDGX_FUZZ_SEED", "20261204")
TIMEOUT_S = int(os.environ.get("REDGX_FUZZ_TIMEOUT_S", "60"))
NAMESPACE = "alpha"
# Blocking reads wait at most this long on the fuzzed server, so a generated timeout cannot stall the run.
MAX_BLOCK_MS = 100

# NOTE: schemathesis.pytest.from_fixture() would load the schema from the live server, but
# schemathesis 4.32.5 reads Node._nodeid, which pytest 9.2 no longer has (AttributeError).
schema = schemathesis.openapi.from_dict(SchemaGenerator().get_schema(request=None, public=True))
schema.config.update(
    parameters={"namespace": NAMESPACE},
    request_timeout=10,
)
schema.config.generation.update(
    max_examples=MAX_EXAMPLES,
    modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE],
)
if SEED != "random":
    schema.config.seed = int(SEED)


@pytest.fixture(scope="module")
def web_url(django_db_setup):
    """One web server for every operation's test, on the test database that django_db_setup creates."""
    port = free_port()
    process = start_web("fuzz-web", port, WEB_CONCURRENCY="1", WEB_THREADS="8", REDGX_MAX_BLOCK_MS=str(MAX_BLOCK_MS))
    yield f"http://127.0.0.1:{port}"
    process.stop()


@pytest.fixture
def api_key(transactional_db) -> str:
    # transactional_db empties the tables after each test, so each operation gets a new key.
    return make_key({NAMESPACE: {READ, WRITE}})


def known_server_bug(case, response) -> str | None:
    """Return the known server bug behind a non-envelope response, or None.

    NOTE: delete each case here once its bug is fixed, so that the test checks it again.
    """
    if response.status_code == 414 and not response.content:
        # Not a bug: granian rejects a path and query string over 65,534 bytes with an empty
        # 414 before the request reaches Django. docs/api.md documents it.
        return "request target over the web server's limit"
    return None


def describe(case, response) -> str:
    return f"{case.method} {response.request.url} body={case.body!r} -> {response.status_code} {response.text[:500]!r}"


@pytest.mark.timeout(TIMEOUT_S)
@schema.parametrize()
# The key fixture is function-scoped on purpose: one key serves every request of a test.
@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_operation_returns_envelope(case, web_url, api_key):
    response = case.call(base_url=web_url, headers={"X-API-Key": api_key})
    assert response.status_code < 500, describe(case, response)
    if not case.path.startswith("/api/") and case.method != "GET":
        # NOTE: /healthz and /readyz are plain Django views outside the API. The coverage
        # phase sends them undocumented methods: require_GET returns an empty 405 for TRACE,
        # and the CSRF middleware returns an HTML 403 for QUERY.
        return
    if known_server_bug(case, response):
        return
    content_type = response.headers.get("content-type", [""])[0]
    assert content_type.startswith("application/json"), describe(case, response)
    try:
        body = json.loads(response.content)
    except ValueError:
        pytest.fail(f"The response is not JSON: {describe(case, response)}")
    assert isinstance(body, dict), describe(case, response)
    if body.get("ok") is True:
        assert "data" in body, describe(case, response)
        assert 200 <= response.status_code < 300, describe(case, response)
    else:
        assert body.get("ok") is False, describe(case, response)
        error = body.get("error")
        assert isinstance(error, dict), describe(case, response)
        assert isinstance(error.get("code"), str), describe(case, response)
        assert isinstance(error.get("message"), str), describe(case, response)
        assert response.status_code >= 400, describe(case, response)
