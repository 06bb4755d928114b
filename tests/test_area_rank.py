import math

import pytest

from apps.core.redis import data_redis

from .conftest import stored_key, stored_keys
from .envelopes import data_of, error_of

R = "/api/v1/ns/alpha/rank/"


def stored(key: str) -> dict[bytes, float]:
    """Members and scores as stored in Redis."""
    reply = data_redis().execute_command("ZRANGE", stored_key(key), 0, -1, "WITHSCORES")
    pairs = reply if not reply or isinstance(reply[0], list) else zip(reply[::2], reply[1::2], strict=True)
    return {member: float(score) for member, score in pairs}


@pytest.fixture
def board(owner):
    """Sorted set ``board``: a=1, b=2, c=3, d=4."""
    data_of(owner.post(R + "board", {"members": {"a": 1, "b": 2, "c": 3, "d": 4}}))


@pytest.fixture
def words(owner):
    """Sorted set ``words`` with every score 0, for lexicographic ranges."""
    data_of(owner.post(R + "words", {"members": dict.fromkeys(["apple", "banana", "cherry", "date"], 0)}))


# add


def test_add_returns_added_count(owner):
    assert data_of(owner.post(R + "board", {"members": {"a": 1, "b": 2.5}})) == {"key": "board", "added": 2}
    assert stored("board") == {b"a": 1.0, b"b": 2.5}


def test_add_update_counts_only_new(owner, board):
    assert data_of(owner.post(R + "board?op=add", {"members": {"a": 10, "e": 5}}))["added"] == 1
    assert stored("board")[b"a"] == 10.0


def test_add_ch_counts_changes(owner, board):
    data = data_of(owner.post(R + "board", {"members": {"a": 10, "b": 2, "e": 5}, "ch": True}))
    assert data == {"key": "board", "changed": 2}


def test_add_nx_skips_existing(owner, board):
    assert data_of(owner.post(R + "board", {"members": {"a": 10, "e": 5}, "nx": True}))["added"] == 1
    assert stored("board")[b"a"] == 1.0
    assert stored("board")[b"e"] == 5.0


def test_add_xx_skips_new(owner, board):
    data = data_of(owner.post(R + "board", {"members": {"a": 10, "e": 5}, "xx": True, "ch": True}))
    assert data["changed"] == 1
    assert stored("board")[b"a"] == 10.0
    assert b"e" not in stored("board")


def test_add_gt_updates_only_upwards(owner, board):
    data_of(owner.post(R + "board", {"members": {"a": 0, "b": 20}, "gt": True}))
    assert stored("board")[b"a"] == 1.0
    assert stored("board")[b"b"] == 20.0


def test_add_gt_adds_missing_member(owner, board):
    assert data_of(owner.post(R + "board", {"members": {"new": -5}, "gt": True}))["added"] == 1
    assert stored("board")[b"new"] == -5.0


def test_add_lt_updates_only_downwards(owner, board):
    data_of(owner.post(R + "board", {"members": {"a": 0, "b": 20, "z": 9}, "lt": True}))
    assert stored("board")[b"a"] == 0.0
    assert stored("board")[b"b"] == 2.0
    assert stored("board")[b"z"] == 9.0


def test_add_incr_returns_score(owner, board):
    assert data_of(owner.post(R + "board", {"members": {"a": 2.5}, "incr": True})) == {"key": "board", "score": 3.5}
    assert stored("board")[b"a"] == 3.5


def test_add_incr_blocked_returns_null(owner, board):
    assert data_of(owner.post(R + "board", {"members": {"a": 1}, "incr": True, "nx": True}))["score"] is None
    assert data_of(owner.post(R + "board", {"members": {"zz": 1}, "incr": True, "xx": True}))["score"] is None
    assert data_of(owner.post(R + "board", {"members": {"a": -1}, "incr": True, "gt": True}))["score"] is None
    assert stored("board")[b"a"] == 1.0
    assert b"zz" not in stored("board")


def test_add_incr_nan_is_409(owner):
    data_of(owner.post(R + "s", {"members": {"m": "inf"}}))
    error = error_of(owner.post(R + "s", {"members": {"m": "-inf"}, "incr": True}), 409)
    assert error["code"] == "not_a_number"
    assert stored("s") == {b"m": math.inf}


def test_add_empty_member(owner):
    data_of(owner.post(R + "s", {"members": {"": 1}}))
    assert stored("s") == {b"": 1.0}


@pytest.mark.parametrize(
    "body, field",
    [
        ({}, "members"),
        ({"members": {}}, "members"),
        ({"members": ["a"]}, "members"),
        ({"members": {"a": "1"}}, "members"),
        ({"members": {"a": "nan"}}, "members"),
        ({"members": {"a": "NaN"}}, "members"),
        ({"members": {"a": "infinity"}}, "members"),
        ({"members": {"a": "(1"}}, "members"),
        ({"members": {"a": True}}, "members"),
        ({"members": {"a": None}}, "members"),
        ({"members": {"a": [1]}}, "members"),
        ({"members": {"a": 10**400}}, "members"),
        ({"members": {"a": 1}, "nx": True, "xx": True}, "xx"),
        ({"members": {"a": 1}, "gt": True, "lt": True}, "lt"),
        ({"members": {"a": 1}, "nx": True, "gt": True}, "nx"),
        ({"members": {"a": 1, "b": 2}, "incr": True}, "members"),
        ({"members": {"a": 1}, "ch": "yes"}, "ch"),
        ({"members": {"a": 1}, "score": 1}, "score"),
    ],
)
def test_add_invalid_names_field(owner, body, field):
    error = error_of(owner.post(R + "s", body), 400)
    assert error["code"] == "invalid"
    assert field in error["fields"]
    assert data_redis().exists(stored_key("s")) == 0


def test_add_error_names_member(owner):
    error = error_of(owner.post(R + "s", {"members": {"ok": 1, "bad": "x"}}), 400)
    assert "bad" in error["message"]
    assert data_redis().exists(stored_key("s")) == 0


def test_add_number_beyond_double_is_400(owner):
    response = owner.post(R + "s", raw=b'{"members": {"a": 1e400}}')
    assert "members" in error_of(response, 400)["fields"]
    assert data_redis().exists(stored_key("s")) == 0


def test_add_json_infinity_literal_is_400(owner):
    assert error_of(owner.post(R + "s", raw=b'{"members": {"a": Infinity}}'), 400)["code"] == "malformed_json"


def test_add_too_many_members_is_413(owner, settings):
    settings.REDGX_MAX_ITEMS_PER_REQUEST = 2
    error = error_of(owner.post(R + "s", {"members": {"a": 1, "b": 2, "c": 3}}), 413)
    assert error["code"] == "too_many_items"
    assert data_redis().exists(stored_key("s")) == 0


def test_add_member_over_limit_is_413(owner, settings):
    settings.REDGX_MAX_VALUE_BYTES = 4
    assert error_of(owner.post(R + "s", {"members": {"toolong": 1}}), 413)["code"] == "payload_too_large"


# infinite and fractional scores


def test_infinite_scores_end_to_end(owner):
    data_of(owner.post(R + "s", {"members": {"top": "inf", "also_top": "+inf", "bottom": "-inf", "mid": 0}}))
    assert stored("s") == {b"bottom": -math.inf, b"mid": 0.0, b"also_top": math.inf, b"top": math.inf}
    assert data_of(owner.get(R + "s?op=score&member=top"))["score"] == "inf"
    assert data_of(owner.get(R + "s?op=score&member=bottom"))["score"] == "-inf"
    data = data_of(owner.get(R + "s?withscores=true"))
    assert data["members"] == ["bottom", "mid", "also_top", "top"]
    assert data["scores"] == ["-inf", 0, "inf", "inf"]
    assert data_of(owner.get(R + "s?op=mscore&member=top&member=bottom"))["scores"] == ["inf", "-inf"]
    assert data_of(owner.get(R + "s?op=count&min=(0&max=inf"))["count"] == 2
    assert data_of(owner.get(R + "s?op=count&min=-inf&max=(-inf"))["count"] == 0
    assert data_of(owner.post(R + "s?op=popmax"))["score"] == "inf"
    assert data_of(owner.post(R + "s?op=incr", {"member": "mid", "by": "-inf"}))["score"] == "-inf"


def test_score_formats(owner):
    data_of(owner.post(R + "s", {"members": {"int": 3, "float": 0.1, "whole": 2.0, "big": 1e20, "neg": -7.25}}))
    scores = data_of(owner.get(R + "s?op=mscore&member=int&member=float&member=whole&member=big&member=neg"))
    assert scores["scores"] == [3, 0.1, 2, 1e20, -7.25]
    assert isinstance(scores["scores"][2], int)


# incr, rem, score, mscore, rank, card


def test_incr(owner, board):
    assert data_of(owner.post(R + "board?op=incr", {"member": "a"})) == {"key": "board", "score": 2}
    assert data_of(owner.post(R + "board?op=incr", {"member": "a", "by": -0.5}))["score"] == 1.5
    assert data_of(owner.post(R + "board?op=incr", {"member": "new", "by": 7}))["score"] == 7
    assert stored("board")[b"a"] == 1.5


def test_incr_nan_is_409(owner):
    data_of(owner.post(R + "s", {"members": {"m": "-inf"}}))
    assert error_of(owner.post(R + "s?op=incr", {"member": "m", "by": "inf"}), 409)["code"] == "not_a_number"
    assert stored("s") == {b"m": -math.inf}


@pytest.mark.parametrize("body, field", [({}, "member"), ({"member": "a", "by": "1"}, "by"), ({"member": 1}, "member")])
def test_incr_invalid_names_field(owner, body, field):
    assert field in error_of(owner.post(R + "s?op=incr", body), 400)["fields"]


def test_rem(owner, board):
    assert data_of(owner.post(R + "board?op=rem", {"members": ["a", "b", "zz"]})) == {"key": "board", "removed": 2}
    assert stored("board") == {b"c": 3.0, b"d": 4.0}
    assert data_of(owner.post(R + "missing?op=rem", {"members": ["a"]}))["removed"] == 0


@pytest.mark.parametrize("body", [{}, {"members": []}, {"members": "a"}, {"members": [1]}])
def test_rem_invalid_is_400(owner, board, body):
    assert "members" in error_of(owner.post(R + "board?op=rem", body), 400)["fields"]
    assert len(stored("board")) == 4


def test_score(owner, board):
    assert data_of(owner.get(R + "board?op=score&member=b")) == {"key": "board", "score": 2}


def test_score_missing_is_404(owner, board):
    assert error_of(owner.get(R + "board?op=score&member=zz"), 404)["code"] == "member_not_found"
    assert error_of(owner.get(R + "missing?op=score&member=a"), 404)["code"] == "member_not_found"


def test_score_requires_member(owner):
    assert "member" in error_of(owner.get(R + "board?op=score"), 400)["fields"]


def test_mscore(owner, board):
    data = data_of(owner.get(R + "board?op=mscore&member=d&member=zz&member=a"))
    assert data == {"key": "board", "scores": [4, None, 1]}
    assert data_of(owner.get(R + "missing?op=mscore&member=a"))["scores"] == [None]


def test_mscore_limits(owner, settings):
    assert "member" in error_of(owner.get(R + "board?op=mscore"), 400)["fields"]
    settings.REDGX_MAX_ITEMS_PER_REQUEST = 2
    assert error_of(owner.get(R + "board?op=mscore&member=a&member=b&member=c"), 413)["code"] == "too_many_items"


def test_rank(owner, board):
    assert data_of(owner.get(R + "board?op=rank&member=a")) == {"key": "board", "rank": 0}
    assert data_of(owner.get(R + "board?op=rank&member=a&rev=true"))["rank"] == 3


def test_rank_missing_is_404(owner, board):
    assert error_of(owner.get(R + "board?op=rank&member=zz"), 404)["code"] == "member_not_found"
    assert error_of(owner.get(R + "missing?op=rank&member=a&rev=1"), 404)["code"] == "member_not_found"


def test_card(owner, board):
    assert data_of(owner.get(R + "board?op=card")) == {"key": "board", "count": 4}
    assert data_of(owner.get(R + "missing?op=card")) == {"key": "missing", "count": 0}


# count, lexcount


@pytest.mark.parametrize(
    "query, expected",
    [
        ("", 4),
        ("min=2", 3),
        ("min=2&max=3", 2),
        ("min=(2&max=3", 1),
        ("min=(2&max=(3", 0),
        ("min=-inf&max=%2Binf", 4),
        ("min=1.5&max=inf", 3),
        ("max=(1", 0),
        ("min=5", 0),
    ],
)
def test_count(owner, board, query, expected):
    assert data_of(owner.get(R + f"board?op=count&{query}")) == {"key": "board", "count": expected}


@pytest.mark.parametrize(
    "query, field", [("min=abc", "min"), ("max=nan", "max"), ("min=((1", "min"), ("min=(", "min"), ("min=1e999", "min")]
)
def test_count_invalid_bound_is_400(owner, board, query, field):
    assert field in error_of(owner.get(R + f"board?op=count&{query}"), 400)["fields"]


@pytest.mark.parametrize(
    "query, expected",
    [
        ("", 4),
        ("min=[banana", 3),
        ("min=(banana", 2),
        ("min=[b&max=(d", 2),
        ("min=-&max=%2B", 4),
        ("min=[&max=[a", 0),
    ],
)
def test_lexcount(owner, words, query, expected):
    assert data_of(owner.get(R + f"words?op=lexcount&{query}"))["count"] == expected


@pytest.mark.parametrize("query, field", [("min=banana", "min"), ("max=b", "max"), ("min=*", "min")])
def test_lexcount_invalid_bound_is_400(owner, words, query, field):
    assert field in error_of(owner.get(R + f"words?op=lexcount&{query}"), 400)["fields"]


# range


def test_range_default_is_whole_set(owner, board):
    data = data_of(owner.get(R + "board"))
    assert data == {"key": "board", "members": ["a", "b", "c", "d"], "encoding": "utf-8"}


def test_range_missing_set_is_empty(owner):
    assert data_of(owner.get(R + "missing"))["members"] == []
    assert data_of(owner.get(R + "missing?withscores=true&by=score")) == {
        "key": "missing",
        "members": [],
        "scores": [],
        "encoding": "utf-8",
    }


@pytest.mark.parametrize(
    "query, members",
    [
        ("start=1&stop=2", ["b", "c"]),
        ("start=-2", ["c", "d"]),
        ("rev=true", ["d", "c", "b", "a"]),
        ("rev=true&start=0&stop=0", ["d"]),
        ("by=score&min=2&max=3", ["b", "c"]),
        ("by=score&min=(2", ["c", "d"]),
        ("by=score&max=(3", ["a", "b"]),
        ("by=score&min=2&max=4&rev=true", ["d", "c", "b"]),
        ("by=score&min=2&limit=2", ["b", "c"]),
        ("by=score&offset=1&limit=2", ["b", "c"]),
        ("by=score&offset=3", ["d"]),
        ("by=score&rev=true&offset=1&limit=1", ["c"]),
        ("by=score&min=3&max=2", []),
    ],
)
def test_range_options(owner, board, query, members):
    assert data_of(owner.get(R + f"board?op=range&{query}"))["members"] == members


@pytest.mark.parametrize(
    "query, members",
    [
        ("by=lex", ["apple", "banana", "cherry", "date"]),
        ("by=lex&min=[b&max=[cherry", ["banana", "cherry"]),
        ("by=lex&min=(banana", ["cherry", "date"]),
        ("by=lex&min=[b&rev=true", ["date", "cherry", "banana"]),
        ("by=lex&limit=2&offset=1", ["banana", "cherry"]),
        ("by=lex&min=-&max=(c&rev=true&limit=1", ["banana"]),
    ],
)
def test_range_lex(owner, words, query, members):
    assert data_of(owner.get(R + f"words?{query}"))["members"] == members


def test_range_withscores(owner, board):
    data = data_of(owner.get(R + "board?by=score&min=(1&max=3&withscores=true"))
    assert data == {"key": "board", "members": ["b", "c"], "scores": [2, 3], "encoding": "utf-8"}
    assert data_of(owner.get(R + "board?rev=true&stop=0&withscores=1"))["scores"] == [4]


@pytest.mark.parametrize(
    "query, field",
    [
        ("by=rank&min=1", "min"),
        ("max=1", "max"),
        ("by=score&start=0", "start"),
        ("by=lex&stop=1", "stop"),
        ("offset=1", "offset"),
        ("limit=1", "limit"),
        ("by=lex&withscores=true", "withscores"),
        ("by=position", "by"),
        ("by=score&min=abc", "min"),
        ("by=score&max=[1", "max"),
        ("by=lex&min=abc", "min"),
        ("by=lex&min=1", "min"),
        ("by=score&limit=0", "limit"),
        ("by=score&limit=1001", "limit"),
        ("by=score&offset=-1", "offset"),
        ("start=1.5", "start"),
        ("rev=maybe", "rev"),
    ],
)
def test_range_invalid_names_field(owner, board, query, field):
    error = error_of(owner.get(R + f"board?{query}"), 400)
    assert error["code"] == "invalid"
    assert field in error["fields"]


# remrange


def test_remrange_by_rank(owner, board):
    assert data_of(owner.post(R + "board?op=remrange", {"start": 0, "stop": 1})) == {"key": "board", "removed": 2}
    assert stored("board") == {b"c": 3.0, b"d": 4.0}


def test_remrange_by_score(owner, board):
    data = data_of(owner.post(R + "board?op=remrange", {"by": "score", "min": "(1", "max": 3}))
    assert data["removed"] == 2
    assert stored("board") == {b"a": 1.0, b"d": 4.0}


def test_remrange_by_score_infinite(owner, board):
    assert data_of(owner.post(R + "board?op=remrange", {"by": "score", "min": "-inf", "max": "+inf"}))["removed"] == 4
    assert data_redis().exists(stored_key("board")) == 0


def test_remrange_by_lex(owner, words):
    data = data_of(owner.post(R + "words?op=remrange", {"by": "lex", "min": "[b", "max": "(d"}))
    assert data["removed"] == 2
    assert stored("words") == {b"apple": 0.0, b"date": 0.0}


@pytest.mark.parametrize(
    "body, field",
    [
        ({}, "start"),
        ({"start": 0}, "stop"),
        ({"by": "score", "min": 1}, "max"),
        ({"by": "lex", "max": "+"}, "min"),
        ({"by": "score", "min": "1", "max": 2}, "min"),
        ({"by": "score", "min": True, "max": 2}, "min"),
        ({"by": "score", "min": 1, "max": 2, "limit": 1}, "limit"),
        ({"by": "rank", "start": 0, "stop": 1, "min": 0}, "min"),
    ],
)
def test_remrange_invalid_names_field(owner, board, body, field):
    assert field in error_of(owner.post(R + "board?op=remrange", body), 400)["fields"]
    assert len(stored("board")) == 4


# popmin, popmax


def test_popmin(owner, board):
    data = data_of(owner.post(R + "board?op=popmin"))
    assert data == {"key": "board", "member": "a", "score": 1, "encoding": "utf-8"}
    assert b"a" not in stored("board")


def test_popmax_count(owner, board):
    data = data_of(owner.post(R + "board?op=popmax", {"count": 2}))
    assert data == {"key": "board", "members": ["d", "c"], "scores": [4, 3], "encoding": "utf-8"}
    assert stored("board") == {b"a": 1.0, b"b": 2.0}


def test_popmin_count_beyond_size(owner, board):
    assert data_of(owner.post(R + "board?op=popmin", {"count": 10}))["members"] == ["a", "b", "c", "d"]
    assert data_redis().exists(stored_key("board")) == 0


def test_pop_empty(owner):
    assert error_of(owner.post(R + "missing?op=popmin"), 404)["code"] == "rank_empty"
    assert error_of(owner.post(R + "missing?op=popmax"), 404)["code"] == "rank_empty"
    data = data_of(owner.post(R + "missing?op=popmin", {"count": 2}))
    assert data == {"key": "missing", "members": [], "scores": [], "encoding": "utf-8"}


@pytest.mark.parametrize("count", [0, -1, "1", 1001])
def test_pop_invalid_count_is_400(owner, board, count):
    assert "count" in error_of(owner.post(R + "board?op=popmin", {"count": count}), 400)["fields"]
    assert len(stored("board")) == 4


# randmember


def test_randmember_single(owner, board):
    data = data_of(owner.get(R + "board?op=randmember"))
    assert data["member"] in {"a", "b", "c", "d"}
    assert data["encoding"] == "utf-8"


def test_randmember_missing_is_404(owner):
    assert error_of(owner.get(R + "missing?op=randmember"), 404)["code"] == "rank_empty"
    assert data_of(owner.get(R + "missing?op=randmember&count=3"))["members"] == []


def test_randmember_positive_count_is_distinct(owner, board):
    members = data_of(owner.get(R + "board?op=randmember&count=10"))["members"]
    assert sorted(members) == ["a", "b", "c", "d"]


def test_randmember_negative_count_repeats(owner, board):
    members = data_of(owner.get(R + "board?op=randmember&count=-9"))["members"]
    assert len(members) == 9
    assert set(members) <= {"a", "b", "c", "d"}


def test_randmember_withscores(owner, board):
    data = data_of(owner.get(R + "board?op=randmember&count=2&withscores=true"))
    assert len(data["members"]) == 2
    expected = {"a": 1, "b": 2, "c": 3, "d": 4}
    assert data["scores"] == [expected[member] for member in data["members"]]


@pytest.mark.parametrize(
    "query, field",
    [("withscores=true", "withscores"), ("count=1001", "count"), ("count=-1001", "count"), ("count=x", "count")],
)
def test_randmember_invalid_names_field(owner, board, query, field):
    assert field in error_of(owner.get(R + f"board?op=randmember&{query}"), 400)["fields"]


def test_randmember_count_limit_follows_setting(owner, board, settings):
    settings.REDGX_MAX_ITEMS_PER_REQUEST = 3
    assert "count" in error_of(owner.get(R + "board?op=randmember&count=-4"), 400)["fields"]
    assert len(data_of(owner.get(R + "board?op=randmember&count=-3"))["members"]) == 3


# scan


def test_scan_small_set(owner, board):
    data = data_of(owner.get(R + "board?op=scan"))
    assert data["cursor"] == "0"
    assert dict(zip(data["members"], data["scores"], strict=True)) == {"a": 1, "b": 2, "c": 3, "d": 4}


def test_scan_pattern(owner, words):
    data = data_of(owner.get(R + "words?op=scan&pattern=*an*"))
    assert data["members"] == ["banana"]


def test_scan_pages_through_large_set(owner):
    members = {f"m{n}": n for n in range(300)}
    data_of(owner.post(R + "big", {"members": members}))
    seen, cursor, pages = {}, "0", 0
    while True:
        data = data_of(owner.get(R + f"big?op=scan&cursor={cursor}&count=50"))
        seen.update(zip(data["members"], data["scores"], strict=True))
        cursor, pages = data["cursor"], pages + 1
        if cursor == "0":
            break
    assert seen == members
    assert pages > 1


@pytest.mark.parametrize("query, field", [("cursor=-1", "cursor"), ("count=0", "count"), ("count=1001", "count")])
def test_scan_invalid_names_field(owner, query, field):
    assert field in error_of(owner.get(R + f"s?op=scan&{query}"), 400)["fields"]


# permissions, types, encodings, key names, pipeline


@pytest.mark.parametrize(
    "path, body",
    [
        ("board", {"members": {"x": 1}}),
        ("board?op=incr", {"member": "a"}),
        ("board?op=rem", {"members": ["a"]}),
        ("board?op=remrange", {"start": 0, "stop": -1}),
        ("board?op=popmin", None),
        ("board?op=popmax", None),
    ],
)
def test_reader_cannot_write(reader, board, path, body):
    assert reader.post(R + path, body).status_code == 403
    assert stored("board") == {b"a": 1.0, b"b": 2.0, b"c": 3.0, b"d": 4.0}


def test_reader_can_read(reader, board):
    assert data_of(reader.get(R + "board"))["members"] == ["a", "b", "c", "d"]
    assert data_of(reader.get(R + "board?op=score&member=a"))["score"] == 1


def test_outsider_is_403(outsider, board):
    assert outsider.get(R + "board").status_code == 403
    assert outsider.post(R + "board?op=popmin").status_code == 403
    assert len(stored("board")) == 4


@pytest.mark.parametrize(
    "method, path, body",
    [
        ("GET", "text", None),
        ("POST", "text", {"members": {"a": 1}}),
        ("GET", "text?op=score&member=a", None),
        ("POST", "text?op=popmin", None),
        ("GET", "text?op=scan", None),
    ],
)
def test_wrong_type_is_409(owner, method, path, body):
    data_redis().rpush(stored_key("text"), "v")
    assert error_of(owner.request(method, R + path, body), 409)["code"] == "wrong_type"
    assert data_redis().lrange(stored_key("text"), 0, -1) == [b"v"]


def test_base64_members_in_and_out(owner):
    data_of(owner.post(R + "bin?encoding=base64", {"members": {"/wD+": 1, "aGk=": 2}}))
    assert stored("bin") == {b"\xff\x00\xfe": 1.0, b"hi": 2.0}
    data = data_of(owner.get(R + "bin?encoding=base64&withscores=true"))
    assert data == {"key": "bin", "members": ["/wD+", "aGk="], "scores": [1, 2], "encoding": "base64"}
    assert data_of(owner.get(R + "bin?op=score&member=aGk%3D&encoding=base64"))["score"] == 2


def test_binary_member_falls_back_to_base64(owner):
    data_redis().zadd(stored_key("bin"), {b"\xff": 1, b"ok": 2})
    assert data_of(owner.get(R + "bin")) == {"key": "bin", "members": ["/w==", "b2s="], "encoding": "base64"}
    assert data_of(owner.post(R + "bin?op=popmin")) == {
        "key": "bin",
        "member": "/w==",
        "score": 1,
        "encoding": "base64",
    }


def test_base64_lex_bound(owner, words):
    # "[b" in base64 is "[" followed by "Yg==".
    assert data_of(owner.get(R + "words?op=lexcount&min=[Yg%3D%3D&encoding=base64"))["count"] == 3
    data = data_of(owner.get(R + "words?by=lex&min=(Yg%3D%3D&max=(ZA%3D%3D&encoding=base64"))
    assert data["members"] == ["YmFuYW5h", "Y2hlcnJ5"]


def test_invalid_base64_member_is_400(owner):
    assert "members" in error_of(owner.post(R + "bin?encoding=base64", {"members": {"!!": 1}}), 400)["fields"]
    assert data_redis().exists(stored_key("bin")) == 0


@pytest.mark.parametrize("name", ["a/b/c", "../beta/x", "ns:beta:x", "순위표"])
def test_hostile_key_names_stay_in_namespace(owner, name):
    path = R + name.replace("%", "%25")
    data_of(owner.post(path, {"members": {"m": 1}}))
    assert stored(name) == {b"m": 1.0}
    assert stored_keys(stored_key("*", "beta")) == []
    assert data_of(owner.get(path + "?op=card"))["key"] == name


def test_keys_lists_only_sorted_sets(owner, board):
    data_redis().set(stored_key("text"), "v")
    assert data_of(owner.get(R))["keys"] == ["board"]


@pytest.mark.parametrize("atomic", [False, True])
def test_pipeline_shapes_match(owner, board, atomic):
    operations = [
        {"area": "rank", "op": "add", "key": "board", "args": {"members": {"e": "inf"}}},
        {"area": "rank", "op": "score", "key": "board", "args": {"member": "e"}},
        {"area": "rank", "op": "range", "key": "board", "args": {"by": "score", "min": 3, "withscores": True}},
        {"area": "rank", "op": "mscore", "key": "board", "args": {"member": ["a", "zz"]}},
        {"area": "rank", "op": "incr", "key": "board", "args": {"member": "a", "by": 0.5}},
        {"area": "rank", "op": "add", "key": "board", "args": {"members": {"b": 1}, "incr": True}},
        {"area": "rank", "op": "popmin", "key": "board"},
        {"area": "rank", "op": "popmax", "key": "board", "args": {"count": 2}},
        {"area": "rank", "op": "randmember", "key": "board", "args": {"count": 1, "withscores": True}},
        {"area": "rank", "op": "scan", "key": "board"},
    ]
    results = data_of(owner.post("/api/v1/ns/alpha/pipeline", {"operations": operations, "atomic": atomic}))["results"]
    data = [result["data"] for result in results]
    assert data[1]["score"] == "inf"
    assert data[2]["members"] == ["c", "d", "e"]
    assert data[2]["scores"] == [3, 4, "inf"]
    assert data[3]["scores"] == [1, None]
    assert data[4]["score"] == 1.5
    assert data[5]["score"] == 3
    assert data[6] == {"key": "board", "member": "a", "score": 1.5, "encoding": "utf-8"}
    assert data[7]["members"] == ["e", "d"]
    assert data[7]["scores"] == ["inf", 4]
    assert data[8]["members"][0] in {"b", "c"}
    assert data[8]["scores"] == [{"b": 3, "c": 3}[data[8]["members"][0]]]
    assert dict(zip(data[9]["members"], data[9]["scores"], strict=True)) == {"b": 3, "c": 3}
    assert stored("board") == {b"b": 3.0, b"c": 3.0}
