from urllib.parse import quote

import pytest

from apps.core.redis import data_redis

from .conftest import stored_key, stored_keys
from .envelopes import data_of, error_of

GROUP = "/api/v1/ns/alpha/group/"
STORED = stored_key("team")


def stored(key: str = "team") -> set[bytes]:
    # The data client keeps Redis's raw replies, so SMEMBERS comes back as a list.
    return set(data_redis().smembers(stored_key(f"{key}")))


def add(client, members: list, key: str = "team") -> dict:
    return data_of(client.post(GROUP + key, {"members": members}))


# add, rem, members


def test_add_then_members(owner):
    assert add(owner, ["ada", "grace", "ada"]) == {"key": "team", "added": 2}
    data = data_of(owner.get(GROUP + "team"))
    assert sorted(data["members"]) == ["ada", "grace"]
    assert data["encoding"] == "utf-8"
    assert stored() == {b"ada", b"grace"}


def test_add_counts_only_new_members(owner):
    add(owner, ["ada"])
    assert add(owner, ["ada", "linus"])["added"] == 1
    assert stored() == {b"ada", b"linus"}


def test_add_empty_string_member(owner):
    add(owner, [""])
    assert stored() == {b""}


@pytest.mark.parametrize(
    "body, field",
    [
        ({}, "members"),
        ({"members": []}, "members"),
        ({"members": "ada"}, "members"),
        ({"members": [1]}, "members"),
        ({"members": [None]}, "members"),
        ({"members": ["a"], "member": "b"}, "member"),
    ],
)
def test_add_invalid_names_field(owner, body, field):
    error = error_of(owner.post(GROUP + "team", body), 400)
    assert error["code"] == "invalid"
    assert field in error["fields"]
    assert data_redis().exists(STORED) == 0


def test_add_too_many_members_is_413(owner, settings):
    settings.REDGX_MAX_ITEMS_PER_REQUEST = 2
    assert error_of(owner.post(GROUP + "team", {"members": ["a", "b", "c"]}), 413)["code"] == "too_many_items"
    assert data_redis().exists(STORED) == 0


def test_add_member_over_limit_is_413(owner, settings):
    settings.REDGX_MAX_VALUE_BYTES = 10
    assert error_of(owner.post(GROUP + "team", {"members": ["x" * 11]}), 413)["code"] == "payload_too_large"
    assert data_redis().exists(STORED) == 0


def test_members_of_missing_key_is_empty(owner):
    assert data_of(owner.get(GROUP + "missing")) == {"key": "missing", "members": [], "encoding": "utf-8"}


def test_default_get_rejects_arguments(owner):
    assert "member" in error_of(owner.get(GROUP + "team?member=a"), 400)["fields"]


def test_rem_counts_removed(owner):
    add(owner, ["a", "b", "c"])
    assert data_of(owner.delete(GROUP + "team?op=rem&member=a&member=b&member=z")) == {"key": "team", "removed": 2}
    assert stored() == {b"c"}


def test_rem_last_member_deletes_key(owner):
    add(owner, ["a"])
    data_of(owner.delete(GROUP + "team?op=rem&member=a"))
    assert data_redis().exists(STORED) == 0


def test_rem_needs_member(owner):
    add(owner, ["a"])
    assert "member" in error_of(owner.delete(GROUP + "team?op=rem"), 400)["fields"]
    assert stored() == {b"a"}


def test_delete_removes_whole_set(owner):
    add(owner, ["a", "b"])
    assert data_of(owner.delete(GROUP + "team")) == {"key": "team", "deleted": 1}
    assert data_redis().exists(STORED) == 0


# ismember, mismember, card


def test_ismember(owner):
    add(owner, ["ada"])
    assert data_of(owner.get(GROUP + "team?op=ismember&member=ada")) == {"key": "team", "ismember": True}
    assert data_of(owner.get(GROUP + "team?op=ismember&member=bob"))["ismember"] is False
    assert data_of(owner.get(GROUP + "missing?op=ismember&member=ada"))["ismember"] is False


def test_ismember_needs_member(owner):
    assert "member" in error_of(owner.get(GROUP + "team?op=ismember"), 400)["fields"]


def test_mismember(owner):
    add(owner, ["ada", "grace"])
    data = data_of(owner.get(GROUP + "team?op=mismember&member=ada&member=bob&member=grace"))
    assert data == {"key": "team", "members": {"ada": True, "bob": False, "grace": True}, "encoding": "utf-8"}


def test_mismember_limits(owner, settings):
    settings.REDGX_MAX_ITEMS_PER_REQUEST = 2
    assert error_of(owner.get(GROUP + "team?op=mismember&member=a&member=b&member=c"), 413)["code"] == "too_many_items"


def test_card(owner):
    add(owner, ["a", "b", "c"])
    assert data_of(owner.get(GROUP + "team?op=card")) == {"key": "team", "cardinality": 3}
    assert data_of(owner.get(GROUP + "missing?op=card"))["cardinality"] == 0


# randmember, pop


def test_randmember_one(owner):
    add(owner, ["a", "b"])
    data = data_of(owner.get(GROUP + "team?op=randmember"))
    assert data["member"] in ("a", "b")
    assert stored() == {b"a", b"b"}


def test_randmember_one_of_missing_key_is_404(owner):
    assert error_of(owner.get(GROUP + "missing?op=randmember"), 404)["code"] == "key_not_found"


def test_randmember_positive_count_is_distinct(owner):
    add(owner, ["a", "b", "c"])
    data = data_of(owner.get(GROUP + "team?op=randmember&count=10"))
    assert sorted(data["members"]) == ["a", "b", "c"]


def test_randmember_negative_count_repeats(owner):
    add(owner, ["a"])
    assert data_of(owner.get(GROUP + "team?op=randmember&count=-3"))["members"] == ["a", "a", "a"]


def test_randmember_count_of_missing_key_is_empty(owner):
    assert data_of(owner.get(GROUP + "missing?op=randmember&count=-3"))["members"] == []
    assert data_of(owner.get(GROUP + "missing?op=randmember&count=0"))["members"] == []


@pytest.mark.parametrize("count", ["1001", "-1001", "x", "2.5"])
def test_randmember_invalid_count_is_400(owner, count):
    assert "count" in error_of(owner.get(GROUP + f"team?op=randmember&count={count}"), 400)["fields"]


def test_pop_one(owner):
    add(owner, ["a", "b"])
    member = data_of(owner.post(GROUP + "team?op=pop"))["member"]
    assert member in ("a", "b")
    assert stored() == {b"a", b"b"} - {member.encode()}


def test_pop_one_of_empty_set_is_404(owner):
    assert error_of(owner.post(GROUP + "missing?op=pop"), 404)["code"] == "key_not_found"


def test_pop_count(owner):
    add(owner, ["a", "b", "c"])
    data = data_of(owner.post(GROUP + "team?op=pop", {"count": 2}))
    assert len(data["members"]) == 2
    (last,) = stored()
    assert set(data["members"]) == {"a", "b", "c"} - {last.decode()}
    assert data_of(owner.post(GROUP + "team?op=pop", {"count": 5}))["members"] == [last.decode()]
    assert data_redis().exists(STORED) == 0


def test_pop_count_of_empty_set_is_empty(owner):
    assert data_of(owner.post(GROUP + "missing?op=pop", {"count": 3})) == {
        "key": "missing",
        "members": [],
        "encoding": "utf-8",
    }


@pytest.mark.parametrize("count", [-1, 1001, "2", 1.5, True])
def test_pop_invalid_count_is_400(owner, count):
    add(owner, ["a"])
    assert "count" in error_of(owner.post(GROUP + "team?op=pop", {"count": count}), 400)["fields"]
    assert stored() == {b"a"}


# move


def test_move(owner):
    add(owner, ["a", "b"])
    data = data_of(owner.post(GROUP + "team?op=move", {"destination": "other", "member": "a"}))
    assert data == {"key": "team", "destination": "other", "moved": True}
    assert stored() == {b"b"}
    assert stored("other") == {b"a"}


def test_move_absent_member(owner):
    add(owner, ["a"])
    assert data_of(owner.post(GROUP + "team?op=move", {"destination": "other", "member": "z"}))["moved"] is False
    assert data_redis().exists(stored_key("other")) == 0


def test_move_to_other_type_is_409(owner):
    add(owner, ["a"])
    data_redis().set(stored_key("text"), "x")
    error = error_of(owner.post(GROUP + "team?op=move", {"destination": "text", "member": "a"}), 409)
    assert error["code"] == "wrong_type"
    assert stored() == {b"a"}


@pytest.mark.parametrize(
    "body, field",
    [
        ({"member": "a"}, "destination"),
        ({"destination": "", "member": "a"}, "destination"),
        ({"destination": "o"}, "member"),
        ({"destination": ["o"], "member": "a"}, "destination"),
    ],
)
def test_move_invalid_names_field(owner, body, field):
    add(owner, ["a"])
    assert field in error_of(owner.post(GROUP + "team?op=move", body), 400)["fields"]
    assert stored() == {b"a"}


def test_move_stays_in_namespace(owner):
    add(owner, ["a"])
    data_of(owner.post(GROUP + "team?op=move", {"destination": "../beta/team", "member": "a"}))
    assert stored("../beta/team") == {b"a"}
    assert stored_keys(stored_key("*", "beta")) == []


# union, inter, diff and their STORE forms, intercard


@pytest.fixture
def teams(owner):
    add(owner, ["a", "b", "c"], "x")
    add(owner, ["b", "c", "d"], "y")
    add(owner, ["c", "e"], "z")


def members_of(response) -> list[str]:
    return sorted(data_of(response)["members"])


def test_union(owner, teams):
    assert members_of(owner.get(GROUP + "x?op=union&key=y&key=z")) == ["a", "b", "c", "d", "e"]


def test_inter(owner, teams):
    assert members_of(owner.get(GROUP + "x?op=inter&key=y&key=z")) == ["c"]


def test_diff(owner, teams):
    assert members_of(owner.get(GROUP + "x?op=diff&key=y")) == ["a"]


def test_union_of_url_key_alone(owner, teams):
    assert members_of(owner.get(GROUP + "x?op=union")) == ["a", "b", "c"]


def test_inter_with_missing_key_is_empty(owner, teams):
    assert data_of(owner.get(GROUP + "x?op=inter&key=missing")) == {"key": "x", "members": [], "encoding": "utf-8"}


def test_diff_of_missing_url_key_is_empty(owner, teams):
    assert data_of(owner.get(GROUP + "missing?op=diff&key=x"))["members"] == []


def test_union_ignores_other_namespace(owner, teams):
    data_redis().sadd(stored_key("secret", "beta"), "s")
    assert members_of(owner.get(GROUP + "x?op=union&key=../beta/secret&key=ns:beta:secret")) == ["a", "b", "c"]


def test_union_with_other_type_is_409(owner, teams):
    data_redis().set(stored_key("text"), "x")
    assert error_of(owner.get(GROUP + "x?op=union&key=text"), 409)["code"] == "wrong_type"


def test_union_limits(owner, settings):
    settings.REDGX_MAX_ITEMS_PER_REQUEST = 2
    assert error_of(owner.get(GROUP + "x?op=union&key=a&key=b&key=c"), 413)["code"] == "too_many_items"
    assert "key" in error_of(owner.get(GROUP + "x?op=union&key="), 400)["fields"]


def test_unionstore(owner, teams):
    data = data_of(owner.post(GROUP + "all?op=unionstore", {"key": ["x", "y", "z"]}))
    assert data == {"key": "all", "cardinality": 5}
    assert stored("all") == {b"a", b"b", b"c", b"d", b"e"}


def test_interstore_replaces_url_key(owner, teams):
    data = data_of(owner.post(GROUP + "x?op=interstore", {"key": ["x", "y"]}))
    assert data == {"key": "x", "cardinality": 2}
    assert stored("x") == {b"b", b"c"}


def test_diffstore(owner, teams):
    assert data_of(owner.post(GROUP + "only?op=diffstore", {"key": ["y", "x"]}))["cardinality"] == 1
    assert stored("only") == {b"d"}


def test_empty_store_deletes_url_key(owner, teams):
    add(owner, ["old"], "result")
    data = data_of(owner.post(GROUP + "result?op=interstore", {"key": ["x", "missing"]}))
    assert data == {"key": "result", "cardinality": 0}
    assert data_redis().exists(stored_key("result")) == 0


@pytest.mark.parametrize("body", [{}, {"key": []}, {"key": "x"}, {"key": [""]}, {"key": [1]}])
def test_store_invalid_names_key(owner, teams, body):
    assert "key" in error_of(owner.post(GROUP + "all?op=unionstore", body), 400)["fields"]
    assert data_redis().exists(stored_key("all")) == 0


def test_intercard(owner, teams):
    assert data_of(owner.get(GROUP + "x?op=intercard&key=y")) == {"key": "x", "cardinality": 2}
    assert data_of(owner.get(GROUP + "x?op=intercard&key=y&limit=1"))["cardinality"] == 1
    assert data_of(owner.get(GROUP + "x?op=intercard&key=missing"))["cardinality"] == 0
    assert data_of(owner.get(GROUP + "x?op=intercard"))["cardinality"] == 3


def test_intercard_negative_limit_is_400(owner, teams):
    assert "limit" in error_of(owner.get(GROUP + "x?op=intercard&key=y&limit=-1"), 400)["fields"]


# scan


def test_scan_pages_through_every_member(owner):
    data_redis().sadd(STORED, *(f"m{i}" for i in range(300)))
    seen, cursor = set(), "0"
    for _page in range(300):
        data = data_of(owner.get(GROUP + f"team?op=scan&cursor={cursor}&count=50"))
        seen.update(data["members"])
        cursor = data["cursor"]
        if cursor == "0":
            break
    assert cursor == "0"
    assert seen == {f"m{i}" for i in range(300)}


def test_scan_pattern(owner):
    add(owner, ["user:1", "user:2", "other"])
    data = data_of(owner.get(GROUP + "team?op=scan&pattern=" + quote("user:*")))
    assert sorted(data["members"]) == ["user:1", "user:2"]
    assert data["cursor"] == "0"


@pytest.mark.parametrize("query, field", [("cursor=x", "cursor"), ("count=0", "count"), ("pattern=a&x=1", "x")])
def test_scan_invalid_is_400(owner, query, field):
    assert field in error_of(owner.get(GROUP + "team?op=scan&" + query), 400)["fields"]


# encodings


def test_binary_member_comes_back_as_base64(owner):
    data_redis().sadd(STORED, b"\xff\x00")
    assert data_of(owner.get(GROUP + "team")) == {"key": "team", "members": ["/wA="], "encoding": "base64"}


def test_base64_members_in_and_out(owner):
    data_of(owner.post(GROUP + "team?encoding=base64", {"members": ["/wD+", "aGk="]}))
    assert stored() == {b"\xff\x00\xfe", b"hi"}
    member = quote("/wD+", safe="")
    data = data_of(owner.get(GROUP + f"team?op=mismember&member={member}&member=eA%3D%3D&encoding=base64"))
    assert data == {"key": "team", "members": {"/wD+": True, "eA==": False}, "encoding": "base64"}


def test_text_members_read_as_base64(owner):
    add(owner, ["hi"])
    assert data_of(owner.get(GROUP + "team?encoding=base64"))["members"] == ["aGk="]


def test_invalid_base64_member_is_400(owner):
    assert "members" in error_of(owner.post(GROUP + "team?encoding=base64", {"members": ["!!"]}), 400)["fields"]
    assert data_redis().exists(STORED) == 0


# types, permissions, key names, pipeline


def test_string_key_is_409(owner):
    data_redis().set(STORED, "text")
    assert error_of(owner.get(GROUP + "team"), 409)["code"] == "wrong_type"
    assert error_of(owner.post(GROUP + "team", {"members": ["a"]}), 409)["code"] == "wrong_type"
    assert data_redis().get(STORED) == b"text"


def test_reader_reads_but_cannot_write(owner, reader):
    add(owner, ["a"])
    assert data_of(reader.get(GROUP + "team?op=ismember&member=a"))["ismember"] is True
    assert reader.post(GROUP + "team", {"members": ["b"]}).status_code == 403
    assert reader.post(GROUP + "team?op=pop").status_code == 403
    assert reader.delete(GROUP + "team?op=rem&member=a").status_code == 403
    assert reader.post(GROUP + "copy?op=unionstore", {"key": ["team"]}).status_code == 403
    assert stored() == {b"a"}


def test_outsider_cannot_read(owner, outsider):
    add(owner, ["a"])
    assert outsider.get(GROUP + "team").status_code == 403


def test_hostile_key_names_stay_in_namespace(owner):
    for name in ("../beta/team", "ns:beta:team", "a b?c#d"):
        add(owner, ["a"], quote(name))
        assert stored(name) == {b"a"}
    assert stored_keys(stored_key("*", "beta")) == []


def test_area_listing_shows_only_sets(owner):
    add(owner, ["a"])
    data_redis().set(stored_key("text"), "x")
    assert data_of(owner.get(GROUP))["keys"] == ["team"]


@pytest.mark.parametrize("atomic", [True, False])
def test_pipeline(owner, atomic):
    body = {
        "atomic": atomic,
        "operations": [
            {"area": "group", "op": "add", "key": "x", "args": {"members": ["a", "b"]}},
            {"area": "group", "op": "add", "key": "y", "args": {"members": ["b"]}},
            {"area": "group", "op": "inter", "key": "x", "args": {"key": ["y"]}},
            {"area": "group", "op": "move", "key": "x", "args": {"destination": "y", "member": "a"}},
            {"area": "group", "op": "members", "key": "x"},
            {"area": "group", "op": "mismember", "key": "y", "args": {"member": ["a", "z"]}},
        ],
    }
    results = [item["data"] for item in data_of(owner.post("/api/v1/ns/alpha/pipeline", body))["results"]]
    assert results[2]["members"] == ["b"]
    assert results[3]["moved"] is True
    assert results[4]["members"] == ["b"]
    assert results[5]["members"] == {"a": True, "z": False}
    assert stored("y") == {b"a", b"b"}


def test_atomic_pipeline_checks_other_keys(owner):
    add(owner, ["a"], "x")
    data_redis().set(stored_key("text"), "x")
    body = {
        "atomic": True,
        "operations": [
            {"area": "group", "op": "add", "key": "x", "args": {"members": ["b"]}},
            {"area": "group", "op": "unionstore", "key": "copy", "args": {"key": ["x", "text"]}},
        ],
    }
    assert error_of(owner.post("/api/v1/ns/alpha/pipeline", body), 409)["code"] == "wrong_type"
    assert stored("x") == {b"a"}
