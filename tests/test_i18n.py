"""Korean as the second language: a complete catalogue, marked strings, and language selection.

The catalogue checks need GNU gettext (xgettext, msgmerge, msgfmt), which .ci/run installs.
"""

import gettext
import io
import re
import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command
from django.test import Client

from apps.inference import jobs, queues
from apps.inference.engines.errors import EngineError
from apps.inference.engines.http import post_json
from apps.inference.tasks import GAVE_UP_MESSAGE
from apps.tenancy.management.commands.createapikey import Command as CreateApiKeyCommand
from apps.tenancy.models import ApiKey

from .conftest import ROOT
from .i18n_support import eager_translations, error_classes, python_sources, read_po, unmarked_strings

CATALOGUE = ROOT / "locale" / "ko" / "LC_MESSAGES" / "django.po"
COMPILED = CATALOGUE.with_suffix(".mo")
# The same arguments as `make messages`.
MAKEMESSAGES_ARGS = [
    "makemessages",
    "--locale",
    "ko",
    "--add-location",
    "file",
    "--no-obsolete",
    "--ignore=.*",
    "--ignore=tests",
    "--ignore=bench",
    "--ignore=deploy",
    "--ignore=staticfiles",
    "--ignore=test-artifacts",
]
SCANNED_FOLDERS = ["apps", "redgx_project"]
KV = "/api/v1/ns/alpha/kv"


def require_gettext() -> None:
    missing = [tool for tool in ("xgettext", "msgmerge", "msgfmt") if shutil.which(tool) is None]
    if missing:
        pytest.fail(f"GNU gettext is missing ({', '.join(missing)}): install it with apt-get install gettext")


@pytest.fixture(scope="module")
def fresh_catalogue(tmp_path_factory) -> Path:
    """The Korean catalogue as `make messages` would write it now, made in a copy of the source."""
    require_gettext()
    copy = tmp_path_factory.mktemp("source")
    for folder in ("apps", "templates", "redgx_project", "locale"):
        shutil.copytree(ROOT / folder, copy / folder, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "manage.py", copy / "manage.py")
    result = subprocess.run(
        [sys.executable, "manage.py", *MAKEMESSAGES_ARGS], cwd=copy, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    return copy / "locale" / "ko" / "LC_MESSAGES" / "django.po"


def test_every_marked_string_has_korean(fresh_catalogue):
    entries = read_po(fresh_catalogue.read_text())
    untranslated = [entry.msgid for entry in entries if not all(entry.msgstr)]
    fuzzy = [entry.msgid for entry in entries if "fuzzy" in entry.flags]
    assert len(entries) > 150
    assert untranslated == [], "run `make messages` and translate these in locale/ko/LC_MESSAGES/django.po"
    assert fuzzy == [], "check these translations and remove their fuzzy flag"


def test_committed_catalogue_is_up_to_date(fresh_catalogue):
    fresh = {entry.key: entry.msgstr for entry in read_po(fresh_catalogue.read_text())}
    committed = {entry.key: entry.msgstr for entry in read_po(CATALOGUE.read_text())}
    assert sorted(set(committed) - set(fresh)) == [], "entries no longer in the source: run `make messages`"
    assert fresh == committed, "run `make messages` and commit locale/ko/LC_MESSAGES/django.po"


def test_compiled_catalogue_matches_po(tmp_path):
    require_gettext()
    # --check also rejects a translation whose %(name)s placeholders differ from the English.
    result = subprocess.run(
        ["msgfmt", "--check", "-o", str(tmp_path / "django.mo"), str(CATALOGUE)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    with (tmp_path / "django.mo").open("rb") as expected, COMPILED.open("rb") as committed:
        expected_catalog = gettext.GNUTranslations(expected)._catalog
        committed_catalog = gettext.GNUTranslations(committed)._catalog
    assert committed_catalog == expected_catalog, "run `make messages` and commit django.mo"


def test_user_facing_strings_are_marked():
    sources = python_sources(ROOT, SCANNED_FOLDERS)
    errors = error_classes(sources)
    findings = [str(finding) for path in sources for finding in unmarked_strings(path, ROOT, errors)]
    assert len(sources) > 50
    assert findings == [], "wrap these in gettext or gettext_lazy (django.utils.translation)"


def test_no_gettext_at_import_time():
    findings = [
        str(finding) for path in python_sources(ROOT, SCANNED_FOLDERS) for finding in eager_translations(path, ROOT)
    ]
    assert findings == [], "use gettext_lazy where the text is built at import time"


UNMARKED_SAMPLE = """
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db import models
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from apps.api.envelope import error_response
from apps.api.errors import InvalidInput


class Thing(models.Model):
    name = models.CharField("name", max_length=10, help_text="What it is.")
    label = models.CharField(gettext_lazy("label"), max_length=10, help_text=gettext_lazy("Shown in lists."))
    owner = models.ForeignKey("auth.User", on_delete=models.CASCADE, verbose_name="owner")

    class Meta:
        verbose_name = "thing"


class Command(BaseCommand):
    help = "Do a thing."

    def handle(self, *args, **options):
        self.stderr.write(f"Did {args}")
        raise CommandError("Failed.")


@admin.display(description="state")
def state(obj):
    return obj.state


def view(request):
    messages.warning(request, "Careful.")
    if request.GET:
        raise InvalidInput("Bad input %s." % request.GET, code="invalid")
    if request.POST:
        raise ValidationError(_("Marked, so not reported."))
    if request.body:
        return error_response(404, "not_found", "Missing.")
    return {"code": "down", "message": "Down."}


TITLE = _("Translated once, at import.")
"""


def test_scan_reports_each_unmarked_place():
    errors = error_classes(python_sources(ROOT, SCANNED_FOLDERS))
    findings = unmarked_strings(Path("sample.py"), ROOT, errors, source=UNMARKED_SAMPLE)
    reported = {(finding.place, finding.text) for finding in findings}
    assert reported == {
        ("CharField(verbose name)", '"name"'),
        ("CharField(help_text=...)", '"What it is."'),
        ("ForeignKey(verbose_name=...)", '"owner"'),
        ("Meta.verbose_name", '"thing"'),
        ("Command.help", '"Do a thing."'),
        ("command output", 'f"Did {args}"'),
        ("CommandError", '"Failed."'),
        ("@admin.display(description=...)", '"state"'),
        ("messages.warning", '"Careful."'),
        ("InvalidInput", '"Bad input %s." % request.GET'),
        ("error_response", '"Missing."'),
        ('{"message": ...}', '"Down."'),
    }
    eager = eager_translations(Path("sample.py"), ROOT, source=UNMARKED_SAMPLE)
    assert [finding.text for finding in eager] == ['_("Translated once, at import.")']


def test_api_error_in_korean_keeps_code(anonymous):
    english = anonymous.get(f"{KV}/k", HTTP_ACCEPT_LANGUAGE="en")
    korean = anonymous.get(f"{KV}/k", HTTP_ACCEPT_LANGUAGE="ko-KR,ko;q=0.9,en;q=0.8")
    assert english.status_code == korean.status_code == 401
    assert english.json()["error"] == {"code": "not_authenticated", "message": "Missing X-API-Key header."}
    assert korean.json()["error"] == {"code": "not_authenticated", "message": "X-API-Key 헤더가 없습니다."}
    assert korean["Content-Language"] == "ko"


def test_api_error_with_values_in_korean(owner):
    english = owner.get(f"{KV}/missing", HTTP_ACCEPT_LANGUAGE="en").json()["error"]
    korean = owner.get(f"{KV}/missing", HTTP_ACCEPT_LANGUAGE="ko").json()["error"]
    assert english == {"code": "key_not_found", "message": "Key 'missing' not found."}
    assert korean == {"code": "key_not_found", "message": "'missing' 키를 찾을 수 없습니다."}


def test_unknown_route_error_in_korean(anonymous):
    response = anonymous.get("/api/v2/nothing", HTTP_ACCEPT_LANGUAGE="ko")
    assert response.status_code == 404
    assert response.json()["error"] == {
        "code": "route_not_found",
        "message": "이 경로와 일치하는 API 라우트가 없습니다.",
    }


def test_unsupported_language_falls_back_to_default(anonymous, settings):
    response = anonymous.get(f"{KV}/k", HTTP_ACCEPT_LANGUAGE="fr")
    assert response.json()["error"]["message"] == "Missing X-API-Key header."

    settings.LANGUAGE_CODE = "ko"
    response = anonymous.get(f"{KV}/k", HTTP_ACCEPT_LANGUAGE="fr")
    assert response.json()["error"]["message"] == "X-API-Key 헤더가 없습니다."
    response = anonymous.get(f"{KV}/k", HTTP_ACCEPT_LANGUAGE="en")
    assert response.json()["error"]["message"] == "Missing X-API-Key header."


def engine_error(status: int, body: dict) -> EngineError:
    """Return the EngineError that the engine HTTP layer raises for this reply, without a network."""
    transport = httpx.MockTransport(lambda request: httpx.Response(status, json=body))
    client = httpx.Client(base_url="http://127.0.0.1:9", transport=transport)
    with client, pytest.raises(EngineError) as raised:
        post_json(client, "/embed", {"inputs": ["x"]})
    return raised.value


def test_job_error_read_in_korean(owner):
    req_id = jobs.create_job("alpha", "embed", {"inputs": ["x"], "normalize": True, "truncate": False})
    error = engine_error(503, {"error": "overloaded"})
    _taken, token, _expired = queues.take("embed", 30)
    reason = {"template": error.template, "params": error.params}
    jobs.fail_job(req_id, error.code, GAVE_UP_MESSAGE, {"reason": reason, "attempts": 3}, token=token)

    path = f"/api/v1/ns/alpha/gpu/embed/{req_id}"
    english = owner.get(path, HTTP_ACCEPT_LANGUAGE="en").json()["data"]["error"]
    korean = owner.get(path, HTTP_ACCEPT_LANGUAGE="ko").json()["data"]["error"]
    assert english == {
        "code": "engine_unavailable",
        "message": "The engine returned 503: overloaded (gave up after 3 attempts)",
    }
    assert korean == {
        "code": "engine_unavailable",
        "message": "엔진이 503 응답을 반환했습니다: overloaded (3번 시도한 뒤 중단)",
    }


def test_job_error_without_template_stays_english(owner):
    # Errors written before messages kept their template carry only the English text.
    req_id = jobs.create_job("alpha", "embed", {"inputs": ["x"], "normalize": True, "truncate": False})
    jobs.inference_redis().hset(
        jobs.job_key(req_id), mapping={"status": "failed", "error": '{"code": "engine_rejected", "message": "Old."}'}
    )
    korean = owner.get(f"/api/v1/ns/alpha/gpu/embed/{req_id}", HTTP_ACCEPT_LANGUAGE="ko").json()["data"]["error"]
    assert korean == {"code": "engine_rejected", "message": "Old."}


@pytest.fixture
def admin(db) -> Client:
    """A logged-in superuser."""
    client = Client()
    client.force_login(User.objects.create_superuser("admin", "admin@example.com", "pw"))
    return client


def column_labels(page: str) -> dict[str, str]:
    """Map each column of an admin change list to the label in its header."""
    header = r'<th scope="col" class="[^"]*column-(\w+)[^"]*">.*?<div class="text">(?:<a [^>]*>|<span>)([^<]*)<'
    return dict(re.findall(header, page, re.DOTALL))


def test_admin_key_list_in_korean(admin, owner_key):
    page = admin.get("/admin/tenancy/apikey/", HTTP_ACCEPT_LANGUAGE="ko").content.decode()
    assert '<html lang="ko"' in page
    assert "<title>변경할 API 키 선택 | RedGX 관리</title>" in page
    assert column_labels(page) == {
        "name": "이름",
        "prefix": "접두사",
        "namespace_list": "네임스페이스",
        "is_admin": "관리자 권한",
        "state": "상태",
        "expires_at": "만료 시각",
        "last_used_at": "마지막 사용 시각",
        "last_used_ip": "마지막 IP 주소",
        "quota_policy": "쿼터 정책",
    }
    assert "선택한 API 키 폐기" in page
    assert '<td class="field-state">활성</td>' in page


def test_admin_key_list_in_english(admin, owner_key):
    page = admin.get("/admin/tenancy/apikey/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert '<html lang="en"' in page
    assert "Select API key to change" in page
    assert column_labels(page)["last_used_at"] == "Last used at"
    assert "Revoke selected API keys" in page


def test_admin_action_message_in_korean(admin, owner_key, django_capture_on_commit_callbacks):
    api_key = ApiKey.objects.get(digest=ApiKey.digest_of(owner_key))
    with django_capture_on_commit_callbacks(execute=True):
        response = admin.post(
            "/admin/tenancy/apikey/",
            {"action": "revoke_selected", "_selected_action": [api_key.pk]},
            HTTP_ACCEPT_LANGUAGE="ko",
            follow=True,
        )
    page = response.content.decode()
    assert "API 키 1개를 폐기했습니다." in page
    assert '<td class="field-state">폐기됨</td>' in page


def test_admin_dashboard_in_korean(admin):
    page = admin.get("/admin/", HTTP_ACCEPT_LANGUAGE="ko").content.decode()
    for label in ("RedGX 관리", "사이트 관리", "테넌시", "API 키", "네임스페이스"):
        assert label in page, label


def test_language_switcher_on_login_page():
    page = Client().get("/admin/login/", HTTP_ACCEPT_LANGUAGE="ko").content.decode()
    assert 'id="language-switcher"' in page
    assert 'action="/i18n/setlang/"' in page
    assert '<option value="ko" lang="ko" selected>한국어</option>' in page
    assert '<option value="en" lang="en">English</option>' in page


def test_language_switcher_overrides_browser(admin):
    response = admin.post("/i18n/setlang/", {"language": "ko", "next": "/admin/"})
    assert response.status_code == 302
    assert response["Location"] == "/admin/"
    assert admin.cookies["django_language"].value == "ko"
    assert "RedGX 관리" in admin.get("/admin/", HTTP_ACCEPT_LANGUAGE="en").content.decode()

    admin.post("/i18n/setlang/", {"language": "en", "next": "/admin/"})
    assert "RedGX administration" in admin.get("/admin/", HTTP_ACCEPT_LANGUAGE="ko").content.decode()


@pytest.mark.django_db
def test_command_output_in_default_language(settings):
    settings.LANGUAGE_CODE = "ko"
    stdout, stderr = io.StringIO(), io.StringIO()
    call_command("createapikey", "--namespace", "shop", stdout=stdout, stderr=stderr)
    assert stdout.getvalue().startswith("rgx_")
    assert stderr.getvalue().startswith("API 키를 만들었습니다. 접두사 ")
    assert "네임스페이스 shop, 권한 read" in stderr.getvalue()
    assert CreateApiKeyCommand().help.startswith("네임스페이스 하나에 권한을 부여한 API 키를 만듭니다.")

    with pytest.raises(CommandError, match="올바르지 않은 네임스페이스 이름입니다: 'Bad:Name'"):
        call_command("createapikey", "--namespace", "Bad:Name", stdout=stdout, stderr=stderr)
