"""Plain-Python tests that mirror the validators DRF fields carry.

Each test is true where the validator would pass, and reads its limit or pattern from the
validator itself. Only validator classes listed here have tests, so a field with another
validator gets no checker.
"""

import re
from collections.abc import Callable

from django.core.validators import (
    MaxLengthValidator,
    MaxValueValidator,
    MinLengthValidator,
    MinValueValidator,
    ProhibitNullCharactersValidator,
    RegexValidator,
)
from rest_framework.validators import ProhibitSurrogateCharactersValidator

_SURROGATE = re.compile("[\ud800-\udfff]")


def validator_tests(validators: list) -> list[Callable[[object], bool]] | None:
    """Return a test per validator that is true where the validator passes, or None for an unknown validator."""
    tests = []
    for validator in validators:
        kind = type(validator)
        if kind is ProhibitNullCharactersValidator:
            tests.append(_has_no_null)
        elif kind is ProhibitSurrogateCharactersValidator:
            tests.append(_has_no_surrogate)
        elif kind is RegexValidator:
            tests.append(_regex_test(validator))
        elif kind in _LIMIT_TESTS and not callable(validator.limit_value):
            tests.append(_LIMIT_TESTS[kind](validator.limit_value))
        else:
            return None
    return tests


def drop_tests_passed_by_bytes(tests: list[Callable[[object], bool]]) -> list[Callable[[object], bool]]:
    """Return ``tests`` without those that every bytes value passes, for fields whose output is bytes."""
    return [test for test in tests if test not in (_has_no_null, _has_no_surrogate)]


def _has_no_null(value) -> bool:
    # The validators test str(value). For bytes that is their repr, which escapes every
    # NUL and non-ASCII byte, so a ValueField's bytes always pass both tests.
    return type(value) is bytes or "\x00" not in str(value)


def _has_no_surrogate(value) -> bool:
    if type(value) is bytes:
        return True
    text = str(value)
    return text.isascii() or _SURROGATE.search(text) is None


def _regex_test(validator: RegexValidator) -> Callable[[object], bool]:
    regex, inverse = validator.regex, validator.inverse_match

    def test(value) -> bool:
        return (regex.search(str(value)) is None) == inverse

    return test


# Django's limit validators: each rejects where compare(clean(value), limit) is true.
_LIMIT_TESTS = {
    MaxValueValidator: lambda limit: lambda value: not value > limit,
    MinValueValidator: lambda limit: lambda value: not value < limit,
    MaxLengthValidator: lambda limit: lambda value: not len(value) > limit,
    MinLengthValidator: lambda limit: lambda value: not len(value) < limit,
}
