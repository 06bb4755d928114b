from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from apps.tenancy.keys import create_api_key
from apps.tenancy.permissions import parse_permissions


class Command(BaseCommand):
    help = "Create an API key with a grant on one namespace (created if missing). Prints only the plain key."

    def add_arguments(self, parser):
        parser.add_argument("--namespace", required=True, help="Namespace name, created if it does not exist.")
        parser.add_argument("--permissions", default="read", help="Comma-separated: read, write. Default: read.")
        parser.add_argument("--name", default="", help="What the key is for. Default: cli-<namespace>.")

    def handle(self, *args, namespace: str, permissions: str, name: str, **options):
        try:
            granted = parse_permissions(permissions)
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        try:
            new_key = create_api_key(name or f"cli-{namespace}", {namespace: granted}, create_namespaces=True)
        except ValidationError as exc:
            raise CommandError(f"Invalid namespace name '{namespace}': {' '.join(exc.messages)}") from exc
        # stdout carries the key alone, so scripts can capture it with $(...).
        self.stdout.write(new_key.plain_key)
        self.stderr.write(f"Created API key {new_key.api_key.prefix} on namespace {namespace}: {permissions}")
