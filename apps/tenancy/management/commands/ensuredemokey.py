import os
from pathlib import Path

from django.utils.translation import gettext as _

from apps.audit.commands import AuditedCommand
from apps.tenancy.keycache import load_key
from apps.tenancy.keys import create_api_key
from apps.tenancy.models import ApiKey
from apps.tenancy.permissions import Permission


class Command(AuditedCommand):
    @property
    def help(self) -> str:
        # A property, because argparse needs a plain str and the language is known only at run time.
        return _(
            "Print a working demo API key with read and write on a namespace, reusing the one saved in "
            "--key-file while it is still valid. For local development only: the file holds the plain key."
        )

    def add_arguments(self, parser):
        parser.add_argument(
            "--namespace", default="shared", help=_("Namespace the key reads and writes. Default: shared.")
        )
        parser.add_argument("--key-file", required=True, type=Path, help=_("File that keeps the plain demo key."))

    def handle(self, *args, namespace: str, key_file: Path, **options):
        plain_key = key_file.read_text().strip() if key_file.is_file() else ""
        if not self._still_valid(plain_key, namespace):
            plain_key = create_api_key(
                "demo", {namespace: {Permission.READ, Permission.WRITE}}, create_namespaces=True
            ).plain_key
            key_file.parent.mkdir(parents=True, exist_ok=True)
            key_file.write_text(plain_key + "\n")
            os.chmod(key_file, 0o600)
        self.stdout.write(plain_key)

    @staticmethod
    def _still_valid(plain_key: str, namespace: str) -> bool:
        if not plain_key:
            return False
        resolved = load_key(ApiKey.digest_of(plain_key))
        return (
            resolved is not None
            and not resolved.revoked
            and resolved.expires_at is None
            and resolved.allows(namespace, Permission.WRITE)
            and resolved.allows(namespace, Permission.READ)
        )
