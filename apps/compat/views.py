"""Views of the Upstash-compatible REST API, one base URL per namespace.

They are DRF views with the project's authentication (through BearerKeyAuthentication)
and NamespaceGrantPermission, so checks added to those classes apply here as well.
"""

from urllib.parse import parse_qsl, unquote_to_bytes

from django.http import JsonResponse
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.api import parsers
from apps.api.permissions import NamespaceGrantPermission
from apps.tenancy.permissions import Permission

from .authentication import TOKEN_QUERY_PARAMETER, BearerKeyAuthentication
from .commands import command_error, with_error_code
from .execution import run_batch, run_command
from .protocol import check_argument_size, command_from_json, upstash_exception_handler, wants_base64

# The path segments before the namespace in /compat/upstash/ns/{namespace}/...
BASE_SEGMENTS = ["compat", "upstash", "ns"]


class UpstashView(APIView):
    authentication_classes = [BearerKeyAuthentication]
    permission_classes = [NamespaceGrantPermission]
    renderer_classes = [JSONRenderer]
    # The body is read as bytes: a JSON command, or a raw value in the path form.
    parser_classes = []
    http_method_names = ["get", "head", "post", "put"]
    # The protocol is Upstash's, documented in docs/upstash.md, not part of the RedGX OpenAPI schema.
    schema = None

    def get_exception_handler(self):
        return upstash_exception_handler

    def required_permission(self) -> Permission:
        # Entering needs read permission, as on the native pipeline; each command is then
        # checked against the permission it needs (write for commands Redis flags "write").
        return Permission.READ

    def json_body(self, request):
        try:
            return parsers.loads(request.body)
        except parsers.InvalidJson:
            raise command_error(_("the request body is not valid JSON.")) from None


class CommandView(UpstashView):
    """One command: a JSON array posted to the base URL, or the path form ``/set/foo/bar/EX/100``.

    In the path form a POST or PUT body is appended as the last argument (so values may be
    binary), followed by the query parameters as name, value pairs (``?EX=100``).
    """

    def get(self, request, namespace: str, path: str = "") -> Response:
        return self._run(request, namespace, self._path_arguments(request, namespace, with_body=False))

    def head(self, request, namespace: str, path: str = "") -> Response:
        return self.get(request, namespace, path)

    def post(self, request, namespace: str, path: str = "") -> Response:
        if not path:
            return self._run(request, namespace, command_from_json(self.json_body(request)))
        return self._run(request, namespace, self._path_arguments(request, namespace, with_body=True))

    def put(self, request, namespace: str, path: str = "") -> Response:
        return self.post(request, namespace, path)

    def _run(self, request, namespace: str, args: list[bytes]) -> Response:
        # The access history records the command name as the action.
        request._request.redgx_action = args[0].decode("ascii", "replace").lower()[:32] if args else ""
        return Response({"result": run_command(namespace, request.auth, args, wants_base64(request))})

    @staticmethod
    def _path_arguments(request, namespace: str, *, with_body: bool) -> list[bytes]:
        args = [unquote_to_bytes(segment) for segment in _raw_segments_after_base(request, namespace)]
        if with_body and request.body:
            args.append(check_argument_size(request.body))
        for name, value in parse_qsl(request.META.get("QUERY_STRING", ""), keep_blank_values=True):
            if name == TOKEN_QUERY_PARAMETER:
                continue
            args.append(name.encode())
            if value:
                args.append(value.encode())
        return [check_argument_size(arg) for arg in args]


def _raw_segments_after_base(request, namespace: str) -> list[str]:
    """Return the still percent-encoded path segments after the namespace.

    Servers that pass the undecoded path (gunicorn as RAW_URI, uWSGI and waitress as
    REQUEST_URI) let an argument contain an encoded "/" (%2F). Without it (granian, Django's
    test client) the decoded path is split instead.
    """
    raw = request.META.get("RAW_URI") or request.META.get("REQUEST_URI")
    path = raw.split("?", 1)[0] if raw else request.path.replace("%", "%25")
    segments = path.split("/")
    for index in range(len(segments) - len(BASE_SEGMENTS)):
        if segments[index : index + len(BASE_SEGMENTS)] == BASE_SEGMENTS:
            rest = segments[index + len(BASE_SEGMENTS) + 1 :]
            # A trailing "/" adds no argument; empty segments elsewhere are empty arguments.
            return rest[:-1] if rest and rest[-1] == "" else rest
    return []


class PipelineView(UpstashView):
    """``POST /pipeline``: commands run in order, not atomically; one result or error each."""

    http_method_names = ["post"]

    def post(self, request, namespace: str) -> Response:
        request._request.redgx_action = "pipeline"
        results = run_batch(namespace, request.auth, self.json_body(request), wants_base64(request), atomic=False)
        return Response(results)


class MultiExecView(UpstashView):
    """``POST /multi-exec``: commands run atomically in one MULTI/EXEC transaction."""

    http_method_names = ["post"]

    def post(self, request, namespace: str) -> Response:
        request._request.redgx_action = "multi-exec"
        results = run_batch(namespace, request.auth, self.json_body(request), wants_base64(request), atomic=True)
        return Response(results)


@csrf_exempt
def compat_not_found(request, path: str = ""):
    """Fallback for any /compat/upstash/ path that no route matches."""
    hint = _("No route matches this path. Use /compat/upstash/ns/<namespace> as the REST URL.")
    return JsonResponse({"error": with_error_code("ERR", hint)}, status=404)
