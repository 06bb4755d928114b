import pytest
from axes.models import AccessAttempt
from django.conf import settings
from django.contrib.auth.models import User
from django.test import Client

LOGIN = "/admin/login/?next=/admin/"


@pytest.fixture
def admin_user(db) -> User:
    return User.objects.create_superuser("admin", "admin@example.com", "right-password")


def login(client: Client, password: str, username: str = "admin", **extra):
    return client.post(LOGIN, {"username": username, "password": password}, **extra)


def fail_until_locked(client: Client, **extra) -> list[int]:
    return [login(client, "wrong", **extra).status_code for _ in range(settings.AXES_FAILURE_LIMIT)]


def test_failure_limit_default_is_five():
    assert settings.AXES_FAILURE_LIMIT == 5


def test_lockout_after_failed_logins(admin_user):
    client = Client(REMOTE_ADDR="127.0.0.20")
    statuses = fail_until_locked(client)
    # The form returns 200 for each failure, and the failure that reaches the limit gets the lockout.
    assert statuses[:-1] == [200] * (settings.AXES_FAILURE_LIMIT - 1)
    assert statuses[-1] == 429

    locked = login(client, "right-password")
    assert locked.status_code == 429
    assert "_auth_user_id" not in client.session
    attempt = AccessAttempt.objects.get(username="admin")
    assert attempt.ip_address == "127.0.0.20"
    # The rejected attempt during the lockout counts as one more failure.
    assert attempt.failures_since_start == settings.AXES_FAILURE_LIMIT + 1


def test_lockout_is_per_user_and_address(admin_user):
    User.objects.create_superuser("other", "other@example.com", "other-password")
    fail_until_locked(Client(REMOTE_ADDR="127.0.0.20"))

    # The same user from another address, and another user from the same address, still log in.
    assert login(Client(REMOTE_ADDR="127.0.0.21"), "right-password").status_code == 302
    assert login(Client(REMOTE_ADDR="127.0.0.20"), "other-password", username="other").status_code == 302


def test_forged_forwarded_for_does_not_escape_lockout(admin_user):
    client = Client(REMOTE_ADDR="127.0.0.20")
    fail_until_locked(client)
    # Without a trusted proxy, X-Forwarded-For is the client's own claim and is ignored.
    response = login(client, "right-password", HTTP_X_FORWARDED_FOR="198.51.100.1")
    assert response.status_code == 429


def test_successful_login_resets_failures(admin_user):
    client = Client(REMOTE_ADDR="127.0.0.22")
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert login(client, "wrong").status_code == 200
    assert login(client, "right-password").status_code == 302
    client.logout()
    assert login(client, "wrong").status_code == 200
    assert login(client, "right-password").status_code == 302
