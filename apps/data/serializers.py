from django.conf import settings
from django.utils.translation import gettext as _
from rest_framework import serializers

from apps.api.errors import PayloadTooLarge
from apps.api.fields import StrictBooleanField, StrictCharField, StrictIntegerField, StrictNumberField, StrictSerializer

# Redis rejects expiry times past this many milliseconds (about 292 million years).
MAX_TTL_MS = 2**62


class SetValueSerializer(StrictSerializer):
    value = StrictCharField(allow_blank=True, trim_whitespace=False)
    ttl = StrictIntegerField(required=False, min_value=1, max_value=MAX_TTL_MS // 1000, help_text="seconds")
    ttl_ms = StrictIntegerField(required=False, min_value=1, max_value=MAX_TTL_MS, help_text="milliseconds")
    nx = StrictBooleanField(required=False, default=False)
    xx = StrictBooleanField(required=False, default=False)

    def validate_value(self, value: str) -> str:
        if len(value.encode()) > settings.REDGX_MAX_VALUE_BYTES:
            raise PayloadTooLarge(
                _("The value is larger than %(limit)d bytes.") % {"limit": settings.REDGX_MAX_VALUE_BYTES}
            )
        return value

    def validate(self, attrs: dict) -> dict:
        if "ttl" in attrs and "ttl_ms" in attrs:
            raise serializers.ValidationError({"ttl_ms": [_("Give either ttl or ttl_ms, not both.")]})
        if attrs["nx"] and attrs["xx"]:
            raise serializers.ValidationError({"xx": [_("nx and xx cannot both be true.")]})
        return attrs


class IncrementSerializer(StrictSerializer):
    by = StrictNumberField(required=False, default=1)

    def validate_by(self, value: int | float) -> int | float:
        if isinstance(value, int) and not -(2**63) <= value <= 2**63 - 1:
            raise serializers.ValidationError(_("Must fit in a signed 64-bit integer."))
        return value
