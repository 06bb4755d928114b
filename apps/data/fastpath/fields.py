"""Plain-Python checkers that mirror DRF serializer fields on plainly valid JSON input.

A checker takes one field's JSON value and the request's encoding, and returns what the
field's ``run_validation`` returns for that value. For any input it does not mirror
exactly, such as a wrong type, a blank string, a value out of bounds or text that only a
query string may carry, it raises ``NotPlainlyValid``. The caller then runs the
serializer, which builds the error, so no checker builds an error message.

A checker is built from the field's own settings (``required``, ``allow_blank``,
``choices``, ``child``, its validators...) and chosen by the field's exact class. A
subclass that changes ``to_internal_value`` therefore gets no checker from its parent,
and serializers that declare it run through DRF until a checker for it is added here.
Checkers assume JSON input (``from_query`` false).
"""

import math
from collections.abc import Callable

from django.conf import settings
from rest_framework import serializers
from rest_framework.fields import _UnvalidatedField

from apps.api.fields import StrictBooleanField, StrictCharField, StrictIntegerField, StrictNumberField

from ..scores import INFINITY_TEXTS, ScoreBoundField, ScoreField, parse_score_text, score_argument
from ..values import EncodedKeysDictField, ValueField, ValueListField, decode_value
from .validators import drop_tests_passed_by_bytes, validator_tests

# (JSON value, encoding) -> validated value
Checker = Callable[[object, str], object]

# IntegerField.to_internal_value runs int(str(value)), which raises ValueError past
# Python's limit of 4,300 digits. Integers of at most 14,000 bits (about 4,200 digits) stay below it.
_MAX_INTEGER_BITS = 14_000


class NotPlainlyValid(Exception):
    """The input needs the serializer: it may be invalid, or valid in a form no checker mirrors."""


def checker_for(field: serializers.Field) -> Checker | None:
    """Return the checker of a bound field, or None when its class or settings have none."""
    build = _BUILDERS.get(type(field)) or _area_builders().get(type(field))
    if build is None or field.read_only or field.source != field.field_name:
        return None
    tests = validator_tests(field.validators)
    check = build(field)
    if check is None or tests is None:
        return None
    if type(field) in _BYTES_OUTPUT:
        tests = drop_tests_passed_by_bytes(tests)
    return _finish(check, tests, field.allow_null)


def _finish(check: Checker, tests: list[Callable[[object], bool]], allow_null: bool) -> Checker:
    """Add the field's validators and its handling of null to ``check``."""
    if not tests and not allow_null:
        # Every check rejects None (the JSON null) itself, as fields without allow_null do.
        return check

    def checked(value, encoding):
        if value is None:
            if allow_null:
                return None
            raise NotPlainlyValid
        result = check(value, encoding)
        for test in tests:
            if not test(result):
                raise NotPlainlyValid
        return result

    return checked


# --- checkers by field class ----------------------------------------------------------------


def build_text(field: serializers.CharField) -> Checker:
    """Check CharField and StrictCharField. Only JSON strings pass, so CharField's numbers go to the serializer."""
    allow_blank, trim = field.allow_blank, field.trim_whitespace

    def check(value, encoding):
        if type(value) is not str:
            raise NotPlainlyValid
        if trim:
            value = value.strip()
        if not value and not allow_blank:
            raise NotPlainlyValid
        return value

    return check


def _value(field: ValueField) -> Checker | None:
    """Check ValueField: text in the request's encoding, returned as bytes."""
    if field.trim_whitespace:
        return None
    allow_blank = field.allow_blank

    def check(value, encoding):
        if type(value) is not str:
            raise NotPlainlyValid
        if not value:
            # CharField returns a blank string before decoding it.
            if allow_blank:
                return b""
            raise NotPlainlyValid
        # This raises ValidationError for bad base64 and UnicodeEncodeError for lone
        # surrogates. validated_data() treats any exception as NotPlainlyValid.
        raw = decode_value(value, encoding)
        if len(raw) > settings.REDGX_MAX_VALUE_BYTES:
            raise NotPlainlyValid
        return raw

    return check


def _boolean(field: StrictBooleanField) -> Checker:
    def check(value, encoding):
        if type(value) is not bool:
            raise NotPlainlyValid
        return value

    return check


def build_integer(field: serializers.IntegerField, limit: Callable[[], int] | None = None) -> Checker:
    """Check IntegerField and its strict subclasses. ``limit`` returns an extra upper bound, read at call time."""

    def check(value, encoding):
        if type(value) is not int or value.bit_length() > _MAX_INTEGER_BITS:
            raise NotPlainlyValid
        if limit is not None and value > limit():
            raise NotPlainlyValid
        return value

    return check


def _number(field: StrictNumberField) -> Checker:
    def check(value, encoding):
        kind = type(value)
        if kind is int or (kind is float and math.isfinite(value)):
            return value
        raise NotPlainlyValid

    return check


def _choice(field: serializers.ChoiceField) -> Checker:
    choices, allow_blank = field.choice_strings_to_values, field.allow_blank

    def check(value, encoding):
        if type(value) is not str:
            raise NotPlainlyValid
        if value == "" and allow_blank:
            return ""
        try:
            return choices[value]
        except KeyError:
            raise NotPlainlyValid from None

    return check


def build_list(field: serializers.ListField, item_limit: bool = False) -> Checker | None:
    """Check ListField, and with ``item_limit`` its subclasses that first apply REDGX_MAX_ITEMS_PER_REQUEST."""
    child = checker_for(field.child)
    if child is None:
        return None
    allow_empty = field.allow_empty

    def check(value, encoding):
        if type(value) is not list:
            raise NotPlainlyValid
        if item_limit and len(value) > settings.REDGX_MAX_ITEMS_PER_REQUEST:
            raise NotPlainlyValid
        if not value and not allow_empty:
            raise NotPlainlyValid
        return [child(item, encoding) for item in value]

    return check


def _dict(field: serializers.DictField) -> Checker | None:
    child = checker_for(field.child)
    if child is None:
        return None
    allow_empty = field.allow_empty
    # The default child returns every value, null included, so the values need no call.
    passthrough = type(field.child) is _UnvalidatedField and not field.child.validators

    def check(value, encoding):
        if type(value) is not dict or (not value and not allow_empty):
            raise NotPlainlyValid
        if passthrough:
            return {str(name): item for name, item in value.items()}
        return {str(name): child(item, encoding) for name, item in value.items()}

    return check


def _encoded_keys_dict(field: EncodedKeysDictField) -> Checker | None:
    """Check EncodedKeysDictField: a DictField whose names are then decoded as values, in order."""
    values, names = _dict(field), checker_for(field.key_field)
    if values is None or names is None:
        return None

    def check(value, encoding):
        if type(value) is dict and len(value) > settings.REDGX_MAX_ITEMS_PER_REQUEST:
            raise NotPlainlyValid
        return {names(name, encoding): item for name, item in values(value, encoding).items()}

    return check


def build_passthrough(field: serializers.Field) -> Checker:
    """Check a field that returns its input, such as the default child of ListField and DictField."""

    def check(value, encoding):
        if value is None:
            raise NotPlainlyValid
        return value

    return check


def _score(field: ScoreField) -> Checker:
    def check(value, encoding):
        kind = type(value)
        if kind is str:
            score = INFINITY_TEXTS.get(value)
        elif kind is int or kind is float:
            # float() raises OverflowError for integers past the double range.
            score = float(value)
            if not math.isfinite(score):
                score = None
        else:
            score = None
        if score is None:
            raise NotPlainlyValid
        return score

    return check


def _score_bound(field: ScoreBoundField) -> Checker:
    score = _score(field)

    def check(value, encoding):
        if type(value) is str and value.startswith("("):
            exclusive = parse_score_text(value[1:])
            if exclusive is None:
                raise NotPlainlyValid
            return "(" + score_argument(exclusive)
        return score_argument(score(value, encoding))

    return check


# Fields whose checker returns bytes (or None) whatever the input.
_BYTES_OUTPUT = frozenset({ValueField})

_BUILDERS: dict[type, Callable[[serializers.Field], Checker | None]] = {
    serializers.CharField: build_text,
    serializers.RegexField: build_text,
    StrictCharField: build_text,
    ValueField: _value,
    StrictBooleanField: _boolean,
    serializers.IntegerField: build_integer,
    StrictIntegerField: build_integer,
    StrictNumberField: _number,
    serializers.ChoiceField: _choice,
    serializers.ListField: build_list,
    ValueListField: lambda field: build_list(field, item_limit=True),
    serializers.DictField: _dict,
    EncodedKeysDictField: _encoded_keys_dict,
    _UnvalidatedField: build_passthrough,
    ScoreField: _score,
    ScoreBoundField: _score_bound,
}


def _area_builders() -> dict[type, Callable[[serializers.Field], Checker | None]]:
    # Imported on first use, because the area modules import apps.data.operations, which
    # imports this module.
    from .area_fields import AREA_BUILDERS

    return AREA_BUILDERS
