"""Validated data of a serializer, computed without building the serializer when the input is plainly valid.

Building a DRF serializer and running every field's ``run_validation`` costs tens of
microseconds, which dominated the CPU time of a 100-operation pipeline. A serializer
class is instead compiled once, from its declared fields, into field checkers
(``fields.checker_for``) and its ``validate_<field>`` and ``validate`` hooks. If a checker
or hook rejects the input, or the class uses something that is not compiled (another
field class, serializer validators, overridden serializer methods), the serializer runs
as before. So every error, with its status, field names and translated message, still
comes from DRF.
"""

import copy
import inspect
import threading
from collections.abc import Callable

from rest_framework import serializers
from rest_framework.fields import empty

from apps.api.fields import StrictSerializer

from .fields import Checker, NotPlainlyValid, checker_for

# Defaults that compiled serializers may share between calls, because nothing can change them.
_IMMUTABLE_DEFAULTS = (str, bytes, int, float, bool, type(None))
_RUN_VALIDATION_WITHOUT_CHANGES = (serializers.Field.run_validation, serializers.CharField.run_validation)
_TO_INTERNAL_VALUE = (serializers.Serializer.to_internal_value, StrictSerializer.to_internal_value)
_FIELDS = (serializers.Serializer.fields, StrictSerializer.fields)


class Entry:
    """One declared field: its checker, what a missing value becomes, and its ``validate_<name>`` hook."""

    __slots__ = ("check", "default", "hook", "name", "required")

    def __init__(self, name: str, check: Checker, required: bool, default: Callable | None, hook: Callable | None):
        self.name = name
        self.check = check
        self.required = required
        # Returns the value of a missing field; None leaves the field out.
        self.default = default
        self.hook = hook


class CompiledSerializer:
    """A serializer class's validation as plain Python, for JSON objects that it accepts."""

    def __init__(self, serializer_class: type[serializers.Serializer], entries: list[Entry], validate: Callable | None):
        self.serializer_class = serializer_class
        self.entries = entries
        self.names = frozenset(entry.name for entry in entries)
        self.rejects_unknown = issubclass(serializer_class, StrictSerializer)
        self.validate = validate
        self.needs_host = validate is not None or any(entry.hook for entry in entries)
        self._hosts = threading.local()

    def run(self, data, context: dict) -> dict:
        """Return the validated data, or raise NotPlainlyValid or the error of a hook."""
        if type(data) is not dict or (self.rejects_unknown and not self.names.issuperset(data)):
            raise NotPlainlyValid
        encoding = context.get("encoding", "utf-8")
        host = self._host(data, context) if self.needs_host else None
        validated = {}
        for entry in self.entries:
            value = data.get(entry.name, empty)
            if value is not empty:
                value = entry.check(value, encoding)
            elif entry.required:
                raise NotPlainlyValid
            elif entry.default is None:
                continue
            else:
                value = entry.default()
            if entry.hook is not None:
                value = entry.hook(host, value)
            validated[entry.name] = value
        if self.validate is not None:
            validated = self.validate(host, validated)
        return validated

    def _host(self, data, context: dict) -> serializers.Serializer:
        """Return this thread's instance for the hooks, set up as a serializer given ``data`` and ``context``.

        Hooks read class attributes, ``self.context`` (through fields they bind) and
        ``self.initial_data``. An instance per thread keeps concurrent requests apart.
        """
        host = getattr(self._hosts, "instance", None)
        if host is None:
            host = self._hosts.instance = self.serializer_class()
        host._context = context
        host.initial_data = data
        return host


def compile_serializer(serializer_class: type[serializers.Serializer]) -> CompiledSerializer | None:
    """Compile a serializer class, or return None if it uses something the fast path does not mirror."""
    if not _has_plain_machinery(serializer_class):
        return None
    binder = serializer_class()
    if binder.validators:
        return None
    validate = serializer_class.validate
    if validate is serializers.Serializer.validate:
        validate = None
    elif not inspect.isfunction(validate):
        return None
    entries = []
    for name, field in copy.deepcopy(serializer_class._declared_fields).items():
        field.bind(field_name=name, parent=binder)
        entry = _compile_field(serializer_class, name, field)
        if entry is None:
            return None
        entries.append(entry)
    return CompiledSerializer(serializer_class, entries, validate)


def _has_plain_machinery(serializer_class: type) -> bool:
    """Return whether the class validates as Serializer or StrictSerializer do, whatever its fields and hooks."""
    return (
        issubclass(serializer_class, serializers.Serializer)
        and serializer_class.to_internal_value in _TO_INTERNAL_VALUE
        and serializer_class.fields in _FIELDS
        and serializer_class.get_fields is serializers.Serializer.get_fields
        and serializer_class.run_validation is serializers.Serializer.run_validation
        and serializer_class.run_validators is serializers.Serializer.run_validators
        and serializer_class.validate_empty_values is serializers.Field.validate_empty_values
    )


def _compile_field(serializer_class: type, name: str, field: serializers.Field) -> Entry | None:
    check = checker_for(field)
    hook = getattr(serializer_class, "validate_" + name, None)
    if check is None or (hook is not None and not inspect.isfunction(hook)):
        return None
    if field.required:
        return Entry(name, check, True, None, hook)
    if field.default is empty:
        return Entry(name, check, False, None, hook)
    default = field.default
    if callable(default):
        # A callable default is returned as it is, unless run_validation changes values
        # (ValueField encodes text), which a compiled field would have to repeat.
        if getattr(default, "requires_context", False) or type(field).run_validation not in (
            _RUN_VALIDATION_WITHOUT_CHANGES
        ):
            return None
        return Entry(name, check, False, default, hook)
    # The field's own run_validation turns the default into the value a missing field gets.
    value = field.run_validation(empty)
    if type(value) not in _IMMUTABLE_DEFAULTS:
        return None
    return Entry(name, check, False, lambda: value, hook)


_compiled: dict[type, CompiledSerializer | None] = {}


def validated_data(serializer_class: type[serializers.Serializer], data, context: dict | None = None) -> dict:
    """Return ``serializer_class(data=data, context=context).validated_data``, raising its ValidationError.

    Plainly valid JSON objects skip the serializer. Query-string input (``from_query`` in
    the context) always runs it.
    """
    context = {} if context is None else context
    if not context.get("from_query"):
        if serializer_class not in _compiled:
            _compiled[serializer_class] = compile_serializer(serializer_class)
        compiled = _compiled[serializer_class]
        if compiled is not None:
            try:
                return compiled.run(data, context)
            except Exception:  # noqa: S110
                # NotPlainlyValid, a hook's error, or an error of a decoder that a field also
                # calls: the serializer below validates again and raises the error.
                pass
    serializer = serializer_class(data=data, context=context)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data
