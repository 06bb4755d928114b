"""The admin in Korean, as a browser set to Korean shows it: headless Chromium against gunicorn.

Needs Debian's chromium and fonts-noto-cjk (without a CJK font, Hangul renders as boxes);
.ci/run installs both. The screenshots are saved under test-artifacts/.
"""

from pathlib import Path
from urllib.parse import urlsplit

import pytest
from django.contrib.auth.models import User

from .conftest import READ, ROOT, WRITE, free_port, make_key, start_web

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = ROOT / "test-artifacts"
PASSWORD = "korean-admin-password"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--lang=ko-KR",
]


@pytest.fixture
def web(transactional_db):
    User.objects.create_superuser("admin", "admin@example.com", PASSWORD)
    make_key({"shop": {READ, WRITE}})
    make_key({"shop": {READ}})
    port = free_port()
    process = start_web("admin-screenshot-web", port, WEB_CONCURRENCY="1", WEB_THREADS="4")
    yield f"http://127.0.0.1:{port}"
    process.stop()


@pytest.fixture
def korean_browser(tmp_path):
    """A Chromium page whose language is Korean, which may load nothing but loopback URLs."""
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: install it with apt-get install chromium fonts-noto-cjk")
    from playwright.sync_api import sync_playwright

    blocked: list[str] = []

    def loopback_only(route) -> None:
        if urlsplit(route.request.url).hostname == "127.0.0.1":
            route.continue_()
        else:
            blocked.append(route.request.url)
            route.abort()

    with sync_playwright() as playwright:
        # launch_persistent_context passes this new directory to Chromium as --user-data-dir.
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"),
            executable_path=str(CHROMIUM),
            headless=True,
            args=CHROMIUM_ARGS,
            locale="ko-KR",
            viewport={"width": 1280, "height": 800},
        )
        context.route("**/*", loopback_only)
        page = context.new_page()
        page.set_default_timeout(15_000)
        yield page
        context.close()
    assert blocked == [], "the admin must work offline"


def test_admin_in_korean_browser(web, korean_browser):
    page = korean_browser
    ARTIFACTS.mkdir(exist_ok=True)

    page.goto(f"{web}/admin/login/?next=/admin/")
    assert page.evaluate("navigator.language") == "ko-KR"
    assert page.title() == "로그인 | RedGX 관리"
    page.fill("#id_username", "admin")
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_url(f"{web}/admin/")

    assert page.locator("html").get_attribute("lang") == "ko"
    assert page.locator("#site-name").inner_text() == "RedGX 관리"
    assert page.locator("#content h1").inner_text() == "사이트 관리"
    assert page.locator("#language-switcher-select option:checked").inner_text() == "한국어"
    tenancy = page.locator(".app-tenancy")
    assert tenancy.locator("caption").inner_text() == "테넌시"
    assert tenancy.locator("th[scope=row]").all_inner_texts() == ["API 키", "네임스페이스"]
    page.screenshot(path=ARTIFACTS / "admin-index-ko.png", full_page=True)

    page.click(".app-tenancy .model-apikey a")
    page.wait_for_url(f"{web}/admin/tenancy/apikey/")
    assert page.locator("#content h1").inner_text() == "변경할 API 키 선택"
    headers = page.locator("#result_list thead th .text").all_inner_texts()
    assert headers[1:] == ["이름", "접두사", "상태", "만료 시각", "마지막 사용 시각", "생성 시각", "생성자"]
    assert page.locator("#result_list td.field-state").all_inner_texts() == ["활성", "활성"]
    assert "선택한 API 키 폐기" in page.locator("select[name=action]").inner_text()
    page.screenshot(path=ARTIFACTS / "admin-apikey-list-ko.png", full_page=True)
