from django.http import HttpRequest


class ReadOnlyAdminMixin:
    """Remove add, change and delete from a ModelAdmin for every user, superusers included.

    The rows are written only by the gateway itself, so the admin can list, filter and
    export them but never edit them.
    """

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False
