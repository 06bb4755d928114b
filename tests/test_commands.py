import io

import pytest
from django.core.management import CommandError, call_command

from apps.tenancy.keycache import load_key
from apps.tenancy.models import ApiKey, Namespace
from apps.tenancy.permissions import Permission


def run(*args) -> tuple[str, str]:
    stdout, stderr = io.StringIO(), io.StringIO()
    call_command(*args, stdout=stdout, stderr=stderr)
    return stdout.getvalue(), stderr.getvalue()


@pytest.mark.django_db
def test_createapikey_prints_only_the_key():
    stdout, stderr = run("createapikey", "--namespace", "fresh", "--permissions", "read,write")
    plain_key = stdout.strip()
    assert stdout == plain_key + "\n"
    assert plain_key.startswith("rgx_")
    assert plain_key not in stderr
    resolved = load_key(ApiKey.digest_of(plain_key))
    assert resolved.grants == {"fresh": frozenset({Permission.READ, Permission.WRITE})}
    assert Namespace.objects.filter(name="fresh").exists()
    # Only the digest is stored.
    assert not ApiKey.objects.filter(digest=plain_key).exists()


@pytest.mark.django_db
def test_createapikey_read_only():
    stdout, _ = run("createapikey", "--namespace", "ro", "--permissions", "read")
    assert load_key(ApiKey.digest_of(stdout.strip())).grants == {"ro": frozenset({Permission.READ})}


@pytest.mark.django_db
@pytest.mark.parametrize("permissions", ["admin", "", "read,delete"])
def test_createapikey_rejects_unknown_permission(permissions):
    with pytest.raises(CommandError):
        run("createapikey", "--namespace", "x", "--permissions", permissions)
    assert ApiKey.objects.count() == 0


@pytest.mark.django_db
@pytest.mark.parametrize("namespace", ["Bad", "a:b", "", "-x", "x" * 64])
def test_createapikey_rejects_bad_namespace(namespace):
    with pytest.raises(CommandError):
        run("createapikey", "--namespace", namespace, "--permissions", "read")
    assert ApiKey.objects.count() == 0
    assert Namespace.objects.count() == 0


@pytest.mark.django_db
def test_ensuredemokey_reuses_a_valid_key(tmp_path):
    key_file = tmp_path / "demo-key"
    first, _ = run("ensuredemokey", "--namespace", "shared", "--key-file", str(key_file))
    second, _ = run("ensuredemokey", "--namespace", "shared", "--key-file", str(key_file))
    assert first == second
    assert key_file.read_text().strip() == first.strip()
    assert ApiKey.objects.count() == 1
    assert oct(key_file.stat().st_mode & 0o777) == "0o600"


@pytest.mark.django_db
def test_ensuredemokey_replaces_a_revoked_key(tmp_path):
    from django.utils import timezone

    key_file = tmp_path / "demo-key"
    first, _ = run("ensuredemokey", "--key-file", str(key_file))
    ApiKey.objects.update(revoked_at=timezone.now())
    second, _ = run("ensuredemokey", "--key-file", str(key_file))
    assert first != second
    assert ApiKey.objects.count() == 2
