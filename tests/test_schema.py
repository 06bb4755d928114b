"""The OpenAPI schema (apps/api/schema.py) and the offline Swagger UI page at /docs/."""

import json
from html.parser import HTMLParser

import pytest
from django.core.management import call_command
from django.test import Client
from drf_spectacular.generators import EndpointEnumerator, SchemaGenerator

from apps.api.operations import OperationViewSet
from apps.data.areas import AREAS
from apps.data.views import QUERY_METHODS

NS = "/api/v1/ns/{namespace}"
ERROR_STATUSES = ["400", "401", "403", "404", "405", "409", "413", "429", "503"]


@pytest.fixture(scope="module")
def schema() -> dict:
    return SchemaGenerator().get_schema(request=None, public=True)


def area_operations():
    """Yield (OpenAPI path, HTTP method, op name, DataOperation) for every registered area operation."""
    for name, area in AREAS.items():
        for path, table in (
            (f"{NS}/{name}/{{key}}", area.key_operations),
            (f"{NS}/{name}/", area.collection_operations),
        ):
            for (method, op_name), data_operation in table.items():
                yield path, method, op_name, data_operation


def operation_routes() -> list[tuple[str, str, type[OperationViewSet]]]:
    """Return (OpenAPI path, HTTP method, viewset) for every OperationViewSet route in the URLconf."""
    routes = []
    for path, _regex, method, callback in EndpointEnumerator().get_api_endpoints():
        view_class = getattr(callback, "cls", None)
        if view_class is not None and issubclass(view_class, OperationViewSet):
            routes.append((path, method, view_class))
    return routes


def parameter(operation: dict, name: str, location: str = "query") -> dict | None:
    return next((p for p in operation.get("parameters", []) if p["name"] == name and p["in"] == location), None)


def body_refs(operation: dict) -> list[str]:
    schema = operation["requestBody"]["content"]["application/json"]["schema"]
    return [branch["$ref"] for branch in schema.get("anyOf", [schema])]


def test_spectacular_command_validates_without_warnings(tmp_path, capsys):
    output = tmp_path / "schema.yaml"
    # --fail-on-warn raises on any warning or error; --validate checks against the OpenAPI 3 spec.
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(output))
    assert output.stat().st_size > 0
    captured = capsys.readouterr()
    assert "Warning" not in captured.err
    assert "Error" not in captured.err


def test_every_area_has_its_routes(schema):
    for name, area in AREAS.items():
        if area.key_operations:
            assert f"{NS}/{name}/{{key}}" in schema["paths"], name
        if area.collection_operations:
            assert f"{NS}/{name}/" in schema["paths"], name


def test_every_data_operation_is_in_op_enum(schema):
    checked = 0
    for path, method, op_name, data_operation in area_operations():
        operation = schema["paths"][path][method.lower()]
        op_parameter = parameter(operation, "op")
        assert op_name in op_parameter["schema"]["enum"], f"{method} {path} op={op_name}"
        if data_operation.default:
            assert op_parameter["schema"]["default"] == op_name
            assert not op_parameter.get("required", False)
        checked += 1
    assert checked > 0


def test_operation_without_default_requires_op(schema):
    for path, method, view_class in operation_routes():
        operation = schema["paths"][path][method.lower()]
        op_parameter = parameter(operation, "op")
        if method in view_class.default_operations:
            assert op_parameter["schema"]["default"] == view_class.default_operations[method].name
        else:
            assert op_parameter["required"] is True, f"{method} {path}"


def test_every_viewset_operation_is_documented(schema):
    """Every (method, op) of every operation route, pipeline, inference and pub/sub included."""
    routes = operation_routes()
    assert {view_class.__name__ for _path, _method, view_class in routes} >= {
        "PipelineViewSet",
        "InferenceViewSet",
        "JobViewSet",
    }
    for path, method, view_class in routes:
        operation = schema["paths"][path][method.lower()]
        expected = sorted(name for m, name in view_class.operations if m == method)
        assert sorted(parameter(operation, "op")["schema"]["enum"]) == expected, f"{method} {path}"
        for name in expected:
            assert f"`{name}`" in operation["description"], f"{method} {path} op={name}"


def test_docstrings_appear_in_descriptions(schema):
    for path, method, op_name, data_operation in area_operations():
        doc = type(data_operation).__doc__
        if doc:
            first_line = doc.strip().splitlines()[0]
            assert first_line in schema["paths"][path][method.lower()]["description"], f"{method} {path} op={op_name}"


def test_query_arguments_become_parameters(schema):
    for path, method, op_name, data_operation in area_operations():
        if method not in QUERY_METHODS or data_operation.serializer_class is None:
            continue
        operation = schema["paths"][path][method.lower()]
        for field_name in data_operation.serializer_class().fields:
            query_parameter = parameter(operation, field_name)
            assert query_parameter is not None, f"{method} {path} op={op_name}: {field_name}"
            assert not query_parameter.get("required", False)
            assert f"`{op_name}`" in query_parameter["description"]


def test_bodies_list_each_operation_serializer(schema):
    components = schema["components"]["schemas"]
    for path, method, op_name, data_operation in area_operations():
        if method in QUERY_METHODS or data_operation.serializer_class is None:
            continue
        refs = body_refs(schema["paths"][path][method.lower()])
        names = {ref.rsplit("/", 1)[1] for ref in refs}
        expected = data_operation.serializer_class.__name__
        assert any(name.endswith(expected) for name in names), f"{method} {path} op={op_name}: {refs}"
        assert names <= set(components)


def test_pipeline_and_submit_bodies(schema):
    pipeline = schema["paths"][f"{NS}/pipeline"]["post"]
    assert body_refs(pipeline) == ["#/components/schemas/PipelineRequest"]
    items = schema["components"]["schemas"]["PipelineRequest"]["properties"]["operations"]["items"]
    assert items == {"$ref": "#/components/schemas/OperationSpec"}

    submit = schema["paths"][f"{NS}/gpu/{{task}}"]["post"]
    assert body_refs(submit) == [
        f"#/components/schemas/{name}Request" for name in ("Embed", "Generate", "Translate", "Stt", "Ocr")
    ]
    assert "202" in submit["responses"]
    assert parameter(submit, "task", "path")["schema"]["enum"] == ["embed", "generate", "ocr", "stt", "translate"]

    cancel = schema["paths"][f"{NS}/gpu/{{task}}/{{req_id}}"]["delete"]
    assert "200" in cancel["responses"]


def test_operations_declare_envelopes_and_key(schema):
    for path, method, _view_class in operation_routes():
        operation = schema["paths"][path][method.lower()]
        assert operation["security"] == [{"ApiKeyAuth": []}]
        responses = operation["responses"]
        successes = [status for status in responses if status.startswith("2")]
        assert successes, f"{method} {path}"
        for status in successes:
            envelope = responses[status]["content"]["application/json"]["schema"]
            assert envelope["required"] == ["ok", "data"]
            assert envelope["properties"]["ok"]["enum"] == [True]
        for status in ERROR_STATUSES:
            error = responses[status]["content"]["application/json"]["schema"]
            assert error == {"$ref": "#/components/schemas/ErrorEnvelope"}, f"{method} {path} {status}"


def test_data_routes_document_encoding(schema):
    for name in AREAS:
        for method, operation in schema["paths"][f"{NS}/{name}/{{key}}"].items():
            encoding = parameter(operation, "encoding")
            assert encoding["schema"]["enum"] == ["utf-8", "base64"], f"{method} {name}"


def test_security_scheme_is_api_key_header(schema):
    scheme = schema["components"]["securitySchemes"]["ApiKeyAuth"]
    assert scheme["type"] == "apiKey"
    assert scheme["in"] == "header"
    assert scheme["name"] == "X-API-Key"


def test_error_envelope_component(schema):
    components = schema["components"]["schemas"]
    assert components["ErrorEnvelope"]["required"] == ["ok", "error"]
    assert components["Error"]["required"] == ["code", "message"]


def test_key_parameter_mentions_slash(schema):
    operation = schema["paths"][f"{NS}/kv/{{key}}"]["get"]
    key = parameter(operation, "key", "path")
    assert "`/`" in key["description"]


def test_operation_ids_are_unique(schema):
    ids = [operation["operationId"] for item in schema["paths"].values() for operation in item.values()]
    assert len(ids) == len(set(ids))


def test_health_routes_are_documented(schema):
    assert schema["paths"]["/healthz"]["get"]["security"] == []
    assert "503" in schema["paths"]["/readyz"]["get"]["responses"]


class LinkCollector(HTMLParser):
    """HTML parser that collects every src and href attribute of a page."""

    def __init__(self):
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.urls.extend(value for name, value in attrs if name in ("src", "href") and value)


def test_schema_endpoint_is_public_json():
    response = Client().get("/docs/schema.json")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/vnd.oai.openapi+json")
    document = json.loads(response.content)
    assert document["openapi"].startswith("3.")
    assert f"{NS}/kv/{{key}}" in document["paths"]


def test_swagger_ui_loads_only_local_files():
    client = Client()
    response = client.get("/docs/")
    assert response.status_code == 200
    page = response.content.decode()
    assert "://" not in page, "the docs page names an absolute URL"
    assert '"/docs/schema.json"' in page
    assert '"validatorUrl": null' in page

    collector = LinkCollector()
    collector.feed(page)
    assert len(collector.urls) >= 4  # stylesheet, favicon, two scripts
    for url in collector.urls:
        assert url.startswith("/"), url
        assert not url.startswith("//"), url
        asset = client.get(url)
        assert asset.status_code == 200, url
        assert b"".join(asset.streaming_content), url


def test_static_files_are_served_by_the_app():
    client = Client()
    for path in ["/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui.css", "/static/admin/css/base.css"]:
        response = client.get(path)
        assert response.status_code == 200, path
        assert b"".join(response.streaming_content)
    assert client.get("/static/drf_spectacular_sidecar/swagger-ui-dist/missing.js").status_code == 404


def test_root_and_docs_without_slash_redirect_to_docs():
    for path in ["/", "/docs"]:
        response = Client().get(path)
        assert response.status_code == 302
        assert response["Location"] == "/docs/"
