from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from apps.tenancy.keys import create_api_key
from apps.tenancy.permissions import parse_permissions


class Command(BaseCommand):
    @property
    def help(self) -> str:
        # A property, because argparse needs a plain str and the language is known only at run time.
        return _("Create an API key with a grant on one namespace (created if missing). Prints only the plain key.")

    def add_arguments(self, parser):
        parser.add_argument("--namespace", required=True, help=_("Namespace name, created if it does not exist."))
        parser.add_argument("--permissions", default="read", help=_("Comma-separated: read, write. Default: read."))
        parser.add_argument("--name", default="", help=_("What the key is for. Default: cli-<namespace>."))
        parser.add_argument(
            "--admin", action="store_true", help=_("Give the key the admin grant (the /api/v1/admin/ area).")
        )

    def handle(self, *args, namespace: str, permissions: str, name: str, admin: bool, **options):
        try:
            granted = parse_permissions(permissions)
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        try:
            new_key = create_api_key(
                name or f"cli-{namespace}", {namespace: granted}, create_namespaces=True, is_admin=admin
            )
        except ValidationError as exc:
            raise CommandError(
                _("Invalid namespace name '%(namespace)s': %(errors)s")
                % {"namespace": namespace, "errors": " ".join(exc.messages)}
            ) from exc
        # stdout carries the key alone, so scripts can capture it with $(...).
        self.stdout.write(new_key.plain_key)
        self.stderr.write(
            _("Created API key %(prefix)s on namespace %(namespace)s: %(permissions)s")
            % {"prefix": new_key.api_key.prefix, "namespace": namespace, "permissions": permissions}
        )
