"""The fast validation path (apps.data.fastpath) against the DRF serializers it replaces.

For every argument serializer of the data areas and the pipeline's own serializers,
generated inputs must give the serializer's validated data or the serializer's error
through ``validated_data``. Whenever the compiled serializer accepts an input by itself,
its result must equal the serializer's, types included (bytes against text, 1 against
1.0 and True).
"""

import copy
import math

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from rest_framework.exceptions import APIException

from apps.api.exceptions import describe_error
from apps.data.areas import AREAS
from apps.data.fastpath.validation import compile_serializer, validated_data
from apps.data.operations import NoArguments
from apps.data.pipeline import OperationSpec, PipelineRequest

ITEM_LIMIT, VALUE_LIMIT, KEY_LIMIT = 3, 8, 12

SERIALIZERS = sorted(
    {
        op.serializer_class
        for area in AREAS.values()
        for table in (area.key_operations, area.collection_operations)
        for op in table.values()
        if op.serializer_class is not None
    }
    | {OperationSpec, PipelineRequest, NoArguments},
    key=lambda serializer_class: f"{serializer_class.__module__}.{serializer_class.__qualname__}",
)

TEXTS = [
    "", " ", "a", " a ", "b", "slash/ed", "{alpha}", "é", "한국어", "\x00", "a\x00b", "\ud800", "x" * 20,
    "x" * VALUE_LIMIT, "x" * (VALUE_LIMIT + 1), "x" * KEY_LIMIT, "x" * (KEY_LIMIT + 1), "eHh4eHh4eHg=", "eHh4eHh4eHh4",
    "inf", "+inf", "-inf", "nan", "(1.5", "(inf", "(x", "1.5", "5", " 5", "-", "+", "[a", "(a", "[", "0",
    "0-1", "0-0", "1700000000000-0", "1700000000000-*", "18446744073709551616", "*", "$", ">",
    "left", "right", "before", "after", "rank", "score", "lex", "utf-8", "base64", "kv", "map", "queue",
    "group", "rank", "event", "get", "set", "incr", " get ", "/wD+", "aGVsbG8=", "not base64!", "true", "1",
]  # fmt: skip
NUMBERS = [
    0, 1, -1, 2, 3, 4, 100, 1000, 1001, 2**53 + 1, 2**62, 2**63 - 1, 2**63, -(2**63), -(2**63) - 1, 2**70,
    1.5, -0.0, 1.0, 0.5, float("nan"), float("inf"), float("-inf"), 1e308, True, False,
]  # fmt: skip
SCALARS = st.sampled_from([*TEXTS, *NUMBERS, None])
JSON_VALUES = st.recursive(
    SCALARS,
    lambda children: (
        st.lists(children, max_size=ITEM_LIMIT + 1)
        | st.dictionaries(st.sampled_from(TEXTS), children, max_size=ITEM_LIMIT + 1)
    ),
    max_leaves=10,
)
ENCODINGS = st.sampled_from(["utf-8", "base64"])


def arguments(serializer_class) -> st.SearchStrategy:
    """Mostly JSON objects with the serializer's field names, sometimes an unknown name or not an object."""
    values = st.one_of(SCALARS, SCALARS, JSON_VALUES)
    optional = dict.fromkeys(serializer_class._declared_fields, values)
    objects = st.fixed_dictionaries({}, optional=optional)
    with_unknown = st.fixed_dictionaries({"unknown": values}, optional=optional)
    return st.one_of(objects, objects, objects, with_unknown, JSON_VALUES)


def typed(value):
    """Return value as nested tuples that keep every type, so that 1, 1.0, True and b"1" differ."""
    if isinstance(value, dict):
        return ("dict", tuple((typed(name), typed(item)) for name, item in value.items()))
    if isinstance(value, list | tuple):
        return (type(value).__name__, tuple(typed(item) for item in value))
    if isinstance(value, float) and math.isnan(value):
        return ("float", "nan")
    return (type(value).__name__, value)


def describe(exc: Exception):
    return describe_error(exc) if isinstance(exc, APIException) else type(exc).__name__


def through_serializer(serializer_class, data, context):
    serializer = serializer_class(data=copy.deepcopy(data), context=context)
    try:
        serializer.is_valid(raise_exception=True)
    except Exception as exc:
        return "error", describe(exc)
    return "ok", typed(serializer.validated_data)


def through_fast_path(serializer_class, data, context):
    try:
        return "ok", typed(validated_data(serializer_class, copy.deepcopy(data), context))
    except Exception as exc:
        return "error", describe(exc)


@pytest.fixture(autouse=True)
def small_limits(settings):
    settings.REDGX_MAX_ITEMS_PER_REQUEST = ITEM_LIMIT
    settings.REDGX_MAX_VALUE_BYTES = VALUE_LIMIT
    settings.REDGX_MAX_KEY_BYTES = KEY_LIMIT
    settings.REDGX_MAX_PIPELINE_OPERATIONS = ITEM_LIMIT


@pytest.mark.parametrize("serializer_class", SERIALIZERS, ids=lambda serializer_class: serializer_class.__qualname__)
def test_generated_input_matches_serializer(serializer_class):
    compiled = compile_serializer(serializer_class)

    @hypothesis_settings(
        max_examples=300,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(data=arguments(serializer_class), encoding=ENCODINGS)
    def check(data, encoding):
        context = {"from_query": False, "encoding": encoding}
        expected = through_serializer(serializer_class, data, context)

        assert through_fast_path(serializer_class, data, context) == expected
        if compiled is not None:
            try:
                accepted = typed(compiled.run(copy.deepcopy(data), context))
            except Exception:
                return
            assert ("ok", accepted) == expected

    check()


SWEPT_VALUES = [
    *TEXTS, *NUMBERS, None, [], {}, ["a"], ["a", "b"], ["a", "a", "b", "c"], ["a", 1], [None], ["x" * 20],
    ["1-1", "2-0"], {"a": "b"}, {"a": 1}, {"a": "inf"}, {"a": "b", "c": "d", "e": "f", "g": "h"}, {"": ""},
]  # fmt: skip


@pytest.mark.parametrize("serializer_class", SERIALIZERS, ids=lambda serializer_class: serializer_class.__qualname__)
def test_each_field_value_matches_serializer(serializer_class):
    """Every field takes every sample value, alone and in the plainly valid arguments below."""
    compiled = compile_serializer(serializer_class)
    bases = [{}] + [data for listed_class, data in PLAIN_ARGUMENTS if listed_class is serializer_class]
    for encoding in ("utf-8", "base64"):
        context = {"from_query": False, "encoding": encoding}
        for base in bases:
            for name in serializer_class._declared_fields:
                for value in SWEPT_VALUES:
                    data = {**base, name: value}
                    expected = through_serializer(serializer_class, data, context)

                    assert through_fast_path(serializer_class, data, context) == expected, data
                    if compiled is not None:
                        try:
                            accepted = typed(compiled.run(copy.deepcopy(data), context))
                        except Exception:
                            continue
                        assert ("ok", accepted) == expected, data


# Plainly valid arguments that the compiled serializers must accept by themselves.
PLAIN_ARGUMENTS = [
    (OperationSpec, {"area": "kv", "op": "get", "key": "a"}),
    (OperationSpec, {"area": "kv", "op": " set ", "key": " spaced key ", "args": {"value": "v"}, "encoding": "base64"}),
    (OperationSpec, {"area": "kv", "op": "mget", "args": {"key": ["a", None]}}),
    (PipelineRequest, {"operations": [{"area": "kv", "op": "get", "key": "a"}], "atomic": True}),
    (NoArguments, {}),
    (AREAS["kv"].find("set", collection=False).serializer_class, {"value": "v", "ttl": 10, "get": True}),
    (AREAS["kv"].find("set", collection=False).serializer_class, {"value": ""}),
    (AREAS["kv"].find("incr", collection=False).serializer_class, {"by": 2.5}),
    (AREAS["kv"].find("incr", collection=False).serializer_class, {}),
    (AREAS["kv"].find("mset", collection=True).serializer_class, {"items": {"a": "1", "b": ""}, "nx": True}),
    (AREAS["kv"].find("keys", collection=True).serializer_class, {"pattern": "a*", "ignored": 1}),
    (AREAS["map"].find("set", collection=False).serializer_class, {"fields": {"f": "v", "g": "w"}}),
    (AREAS["map"].find("incr", collection=False).serializer_class, {"field": "f", "by": -3}),
    (AREAS["map"].find("mget", collection=False).serializer_class, {"field": ["f", "g"]}),
    (AREAS["queue"].find("push", collection=False).serializer_class, {"values": ["a", "b"], "side": "left"}),
    (AREAS["queue"].find("pop", collection=False).serializer_class, {"count": 2}),
    (AREAS["queue"].find("range", collection=False).serializer_class, {"start": 0, "stop": -1}),
    (AREAS["group"].find("add", collection=False).serializer_class, {"members": ["a", "b"]}),
    (AREAS["group"].find("union", collection=False).serializer_class, {"key": ["other"]}),
    (AREAS["rank"].find("add", collection=False).serializer_class, {"members": {"a": 1, "b": "-inf"}, "ch": True}),
    (AREAS["rank"].find("incr", collection=False).serializer_class, {"member": "a"}),
    (AREAS["rank"].find("range", collection=False).serializer_class, {"by": "score", "min": "(1", "max": "+inf"}),
    (AREAS["rank"].find("count", collection=False).serializer_class, {"min": "(1.5", "max": 3}),
    (AREAS["event"].find("ack", collection=False).serializer_class, {"group": "g", "ids": ["1-1"]}),
]


@pytest.mark.parametrize(("serializer_class", "data"), PLAIN_ARGUMENTS)
@pytest.mark.parametrize("encoding", ["utf-8", "base64"])
def test_plain_arguments_skip_serializer(serializer_class, data, encoding):
    if encoding == "base64" and serializer_class not in (OperationSpec, PipelineRequest, NoArguments):
        # Field names and values of the data areas are base64 here; "v", "f"... are not.
        data = {name: _as_base64(value) for name, value in data.items()}
    context = {"from_query": False, "encoding": encoding}

    accepted = compile_serializer(serializer_class).run(copy.deepcopy(data), context)

    assert ("ok", typed(accepted)) == through_serializer(serializer_class, data, context)


def _as_base64(value):
    """Map the sample texts to valid base64, leaving numbers and score texts alone."""
    replacements = {"v": "dg==", "f": "Zg==", "g": "Zw==", "w": "dw==", "a": "YQ==", "b": "Yg==", "1": "MQ=="}
    if isinstance(value, dict):
        return {replacements.get(name, name): _as_base64(item) for name, item in value.items()}
    if isinstance(value, list):
        return [_as_base64(item) for item in value]
    return replacements.get(value, value) if isinstance(value, str) else value


def test_query_input_runs_serializer():
    serializer_class = AREAS["kv"].find("incr", collection=False).serializer_class

    assert validated_data(serializer_class, {"by": "5"}, {"from_query": True, "encoding": "utf-8"}) == {"by": 5}
