from django.conf import settings
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from rest_framework import serializers

from apps.api.errors import PayloadTooLarge
from apps.api.fields import StrictBooleanField, StrictSerializer


class EmbedInputsField(serializers.Field):
    """One non-empty string, or a non-empty list of them; always returns a list."""

    # Lazy, because the class body runs once at import, before any request picks a language.
    default_error_messages = {
        "invalid": gettext_lazy("Must be a string or a list of strings."),
        "empty_list": gettext_lazy("Must contain at least one input."),
        "empty_input": gettext_lazy("Input %(index)d is empty."),
        "not_string": gettext_lazy("Input %(index)d is not a string."),
    }

    def to_internal_value(self, data) -> list[str]:
        if isinstance(data, str):
            data = [data]
        if not isinstance(data, list):
            self.fail("invalid")
        if not data:
            self.fail("empty_list")
        if len(data) > settings.REDGX_EMBED_MAX_INPUTS:
            raise PayloadTooLarge(
                _("Too many inputs: %(count)d, the limit is %(limit)d.")
                % {"count": len(data), "limit": settings.REDGX_EMBED_MAX_INPUTS},
                code="too_many_inputs",
            )
        for index, text in enumerate(data):
            if not isinstance(text, str):
                self.fail("not_string", index=index)
            if not text.strip():
                self.fail("empty_input", index=index)
            if len(text) > settings.REDGX_EMBED_MAX_INPUT_CHARS:
                raise PayloadTooLarge(
                    _("Input %(index)d has %(length)d characters, the limit is %(limit)d.")
                    % {"index": index, "length": len(text), "limit": settings.REDGX_EMBED_MAX_INPUT_CHARS},
                    code="input_too_long",
                )
        return data

    def to_representation(self, value):
        return value


class EmbedRequestSerializer(StrictSerializer):
    inputs = EmbedInputsField()
    normalize = StrictBooleanField(required=False, default=True)
    truncate = StrictBooleanField(required=False, default=False)
