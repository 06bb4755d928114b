import json

from django.conf import settings
from django.utils.translation import gettext as _
from rest_framework import serializers

from apps.api.errors import PayloadTooLarge
from apps.api.fields import StrictSerializer
from apps.data.values import decode_value


class PublishRequest(StrictSerializer):
    """The body of a publish: ``{"data": ...}``.

    A string is published as its UTF-8 text, or as the bytes it encodes when the request
    has ``?encoding=base64``. Any other JSON value is published as its compact JSON text.
    """

    data = serializers.JSONField(allow_null=True, help_text="the message: text, or any JSON value")

    def validate_data(self, value) -> bytes:
        encoding = self.context.get("encoding", "utf-8")
        if isinstance(value, str):
            payload = decode_value(value, encoding)
        elif encoding == "base64":
            raise serializers.ValidationError(_("Must be a base64 string when encoding is base64."))
        else:
            payload = json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()
        limit = settings.REDGX_PUBSUB_MAX_MESSAGE_BYTES
        if len(payload) > limit:
            message = _("The message is %(size)d bytes, over the limit of %(limit)d bytes.")
            raise PayloadTooLarge(message % {"size": len(payload), "limit": limit})
        return payload
