from django.utils.translation import gettext as _
from rest_framework.exceptions import PermissionDenied
from rest_framework.permissions import BasePermission


class NamespaceGrantPermission(BasePermission):
    """Allows a request when its key has the operation's permission in the URL's namespace.

    Views declare what they need through ``required_permission()``. A namespace
    without a grant is rejected the same way whether it exists or not.
    """

    def has_permission(self, request, view) -> bool:
        namespace = view.kwargs.get("namespace")
        permission = view.required_permission()
        key = request.auth
        if key is None or namespace is None:
            return False
        if namespace not in key.grants:
            raise PermissionDenied(
                _("This API key has no access to namespace '%(namespace)s'.") % {"namespace": namespace},
                code="namespace_forbidden",
            )
        if not key.allows(namespace, permission):
            raise PermissionDenied(
                _("This API key has no %(permission)s permission in namespace '%(namespace)s'.")
                % {"permission": permission.value, "namespace": namespace},
                code="permission_denied",
            )
        return True


class AdminGrantPermission(BasePermission):
    """Allows a request when its key carries the admin grant (routes under /api/v1/admin/)."""

    def has_permission(self, request, view) -> bool:
        key = request.auth
        if key is None:
            return False
        if not key.is_admin:
            raise PermissionDenied(_("This API key has no admin grant."), code="admin_forbidden")
        return True
