"""Viewsets whose actions are chosen by HTTP method and the ``op`` query parameter.

Key names may contain "/", so an action cannot follow the key in the path. Each
viewset declares its operations with ``@operation``; one method may carry a default
operation used when ``op`` is absent.
"""

from collections.abc import Callable
from dataclasses import dataclass

from django.utils.translation import gettext as _
from rest_framework import viewsets
from rest_framework.exceptions import MethodNotAllowed

from apps.tenancy.permissions import Permission

from .errors import UnknownOperation


@dataclass(frozen=True)
class Operation:
    method: str
    name: str
    permission: Permission
    handler: str
    default: bool
    # What the handler runs, for viewsets that share one handler (the data areas).
    spec: object = None


def operation(method: str, name: str, permission: Permission, *, default: bool = False) -> Callable:
    """Declare a viewset method as the handler of ``METHOD ...?op=name``."""

    def register(function: Callable) -> Callable:
        function._operations = [*getattr(function, "_operations", []), (method.upper(), name, permission, default)]
        return function

    return register


class OperationViewSet(viewsets.ViewSet):
    http_method_names = ["get", "head", "post", "put", "delete"]
    operations: dict[tuple[str, str], Operation]
    default_operations: dict[str, Operation]

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        cls.operations, cls.default_operations = {}, {}
        for attribute in dir(cls):
            for method, name, permission, default in getattr(getattr(cls, attribute, None), "_operations", []):
                found = Operation(method, name, permission, attribute, default)
                cls.operations[(method, name)] = found
                if default:
                    cls.default_operations[method] = found

    @classmethod
    def as_operation_view(cls):
        methods = sorted({method for method, _name in cls.operations})
        return cls.as_view({method.lower(): "run_operation" for method in methods})

    def get_operation(self) -> Operation:
        if not hasattr(self, "_operation"):
            self._operation = self._find_operation()
            self.action = self._operation.name
            # Read by the access history (apps.api.middleware.AccessMiddleware).
            self.request._request.redgx_action = self._operation.name
        return self._operation

    def _find_operation(self) -> Operation:
        method = "GET" if self.request.method == "HEAD" else self.request.method.upper()
        name = self.request.query_params.get("op")
        if not any(m == method for m, _name in self.operations):
            # Permission checks ask for the operation before DRF looks at the method.
            raise MethodNotAllowed(self.request.method)
        if name is None:
            if method in self.default_operations:
                return self.default_operations[method]
            raise UnknownOperation(
                _("Missing 'op' query parameter. Use one of: %(names)s.") % {"names": self._names_for(method)},
                code="missing_operation",
            )
        found = self.operations.get((method, name))
        if found is None:
            raise UnknownOperation(
                _("Unknown operation '%(name)s' for %(method)s. Use one of: %(names)s.")
                % {"name": name, "method": method, "names": self._names_for(method)}
            )
        return found

    def _names_for(self, method: str) -> str:
        return ", ".join(sorted(name for m, name in self.operations if m == method))

    def required_permission(self) -> Permission:
        return self.get_operation().permission

    def run_operation(self, request, *args, **kwargs):
        return getattr(self, self.get_operation().handler)(request, *args, **kwargs)
