"""JSON request bodies that are valid Unicode text.

JSON's ``\\uXXXX`` escapes can name half of a UTF-16 surrogate pair on its own
(``"\\ud800"``). Python decodes that into a string that cannot be encoded as UTF-8, so a
key or value that contains one would fail deep inside the gateway. Bodies are rejected here instead,
with the other JSON errors. The check walks the parsed body only when the raw bytes
contain a surrogate escape at all, so ordinary bodies pay one regular-expression scan.
"""

import json
import re

from django.utils.translation import gettext as _
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")
_SURROGATE = re.compile("[\ud800-\udfff]")


class InvalidJson(ValueError):
    """A body that is not JSON, or JSON with a lone surrogate."""


def _reject_constant(name: str):
    # Python's json module accepts NaN and Infinity, which JSON itself does not have.
    raise ValueError(f"{name} is not valid JSON")


def has_lone_surrogate(value) -> bool:
    """Return whether a parsed JSON value contains a string with an unpaired surrogate."""
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            if _SURROGATE.search(item):
                return True
        elif isinstance(item, dict):
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
    return False


def loads(raw: bytes):
    """Parse a UTF-8 JSON body, rejecting NaN, infinities and lone surrogates with InvalidJson."""
    try:
        value = json.loads(raw, parse_constant=_reject_constant)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidJson(str(exc)) from None
    if _SURROGATE_ESCAPE.search(raw) and has_lone_surrogate(value):
        message = _("a string contains a lone surrogate (\\ud800 to \\udfff); send text as UTF-8 or as surrogate pairs")
        raise InvalidJson(message)
    return value


class StrictJSONParser(JSONParser):
    """DRF's JSON parser, with lone surrogates rejected as well as NaN and infinities."""

    def parse(self, stream, media_type=None, parser_context=None):
        raw = stream.read() if stream is not None else b""
        try:
            return loads(raw)
        except InvalidJson as exc:
            raise ParseError(_("JSON parse error - %(reason)s") % {"reason": exc}) from None
