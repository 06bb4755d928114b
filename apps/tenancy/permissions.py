"""The two permissions a grant gives, and how operators write them."""

from enum import StrEnum

from django.utils.translation import gettext as _


class Permission(StrEnum):
    READ = "read"
    WRITE = "write"


def parse_permissions(text: str) -> set[Permission]:
    """Parse a comma-separated list such as ``read,write``."""
    names = {part.strip().lower() for part in text.split(",") if part.strip()}
    if not names:
        raise ValueError(_("Give at least one permission: read, write."))
    unknown = names - {p.value for p in Permission}
    if unknown:
        raise ValueError(_("Unknown permission: %(names)s. Use read, write.") % {"names": ", ".join(sorted(unknown))})
    return {Permission(name) for name in names}
