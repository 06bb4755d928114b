"""The admin in Korean, as a browser set to Korean shows it: headless Chromium against gunicorn.

Needs Debian's chromium and fonts-noto-cjk (without a CJK font, Hangul renders as boxes);
.ci/run installs both. The screenshots are saved under test-artifacts/.
"""

import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from django.contrib.auth.models import User

from .conftest import READ, ROOT, WRITE, free_port, make_key, start_web, start_worker
from .engines.fake_tei import FakeTeiEngine

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
    assert tenancy.locator("th[scope=row]").all_inner_texts() == [
        "API 키",
        "IP 허용 목록 항목",
        "네임스페이스",
        "쿼터 정책",
    ]
    page.screenshot(path=ARTIFACTS / "admin-index-ko.png", full_page=True)

    page.click(".app-tenancy .model-apikey a")
    page.wait_for_url(f"{web}/admin/tenancy/apikey/")
    assert page.locator("#content h1").inner_text() == "변경할 API 키 선택"
    headers = page.locator("#result_list thead th .text").all_inner_texts()
    assert headers[1:] == [
        "이름",
        "접두사",
        "네임스페이스",
        "관리자 권한",
        "상태",
        "만료 시각",
        "마지막 사용 시각",
        "마지막 IP 주소",
        "쿼터 정책",
    ]
    assert page.locator("#result_list td.field-state").all_inner_texts() == ["활성", "활성"]
    assert "선택한 API 키 폐기" in page.locator("select[name=action]").inner_text()
    page.screenshot(path=ARTIFACTS / "admin-apikey-list-ko.png", full_page=True)


# Chart name -> how many points its lines have and how many canvas pixels show the first
# line's colour (#2b6cb0 in static/redgx/dashboard.js, within a margin for antialiasing).
CHART_STATE_SCRIPT = """
() => {
  const result = {};
  for (const section of document.querySelectorAll("#redgx-dashboard .dashboard-chart")) {
    const chart = window.redgxDashboard.charts[section.dataset.chart];
    if (!chart) { result[section.dataset.chart] = {points: 0, pixels: 0}; continue; }
    const points = chart.plot.data.slice(1).flat().filter((value) => value !== null).length;
    const canvas = section.querySelector("canvas");
    const pixels = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
    let coloured = 0;
    for (let i = 0; i < pixels.length; i += 4) {
      const [r, g, b, a] = [pixels[i], pixels[i + 1], pixels[i + 2], pixels[i + 3]];
      if (a > 200 && Math.abs(r - 43) < 30 && Math.abs(g - 108) < 30 && Math.abs(b - 176) < 30) coloured++;
    }
    result[section.dataset.chart] = {points: points, pixels: coloured};
  }
  return result;
}
"""
CHARTS_DRAWN_SCRIPT = f"""
() => {{
  if (!window.redgxDashboard) return false;
  const state = ({CHART_STATE_SCRIPT})();
  const drawn = (chart) => chart.points >= 2 && chart.pixels > 20;
  return Object.keys(state).length === 4 && Object.values(state).every(drawn);
}}
"""


class Traffic:
    """Embed submits from two namespaces for a few seconds: some fail in the engine, some are rejected."""

    def __init__(self, base_url: str, shop_key: str, blog_key: str, seconds: float):
        self.base_url, self.keys, self.seconds = base_url, {"shop": shop_key, "blog": blog_key}, seconds
        self.statuses: list[int] = []
        self.thread = threading.Thread(target=self.run, name="dashboard-traffic", daemon=True)

    def submit(self, client: httpx.Client, namespace: str, text: str) -> None:
        response = client.post(
            f"{self.base_url}/api/v1/ns/{namespace}/gpu/embed",
            json={"inputs": [text]},
            headers={"X-API-Key": self.keys[namespace]},
        )
        self.statuses.append(response.status_code)

    def run(self) -> None:
        end = time.monotonic() + self.seconds
        round_number = 0
        with httpx.Client(timeout=10) as client:
            while time.monotonic() < end:
                round_number += 1
                for n in range(6):
                    self.submit(client, "shop", f"shop sentence {round_number}.{n}")
                self.submit(client, "blog", f"blog sentence {round_number}")
                if round_number % 4 == 0:
                    # The fake engine rejects inputs containing its reject marker with 422.
                    self.submit(client, "blog", f"bad input {round_number}")
                time.sleep(0.5)


@pytest.fixture
def inference_stack(transactional_db):
    """Gunicorn, a Dramatiq worker and a slow fake TEI engine, so queues build up and drain."""
    User.objects.create_superuser("admin", "admin@example.com", PASSWORD)
    shop_key = make_key({"shop": {READ, WRITE}})
    blog_key = make_key({"blog": {READ, WRITE}})
    with FakeTeiEngine() as engine:
        engine.latency_s = 0.5
        engine.reject_marker = "bad input"
        worker = start_worker(
            "dashboard-worker",
            engine.url,
            REDGX_EMBED_BATCH_SIZE="4",
            REDGX_EMBED_MAX_CONCURRENT_CALLS="1",
            REDGX_EMBED_MAX_WAIT_MS="50",
        )
        port = free_port()
        web = start_web(
            "dashboard-web", port, WEB_CONCURRENCY="1", WEB_THREADS="4", REDGX_MAX_QUEUED_JOBS_PER_NAMESPACE="8"
        )
        base_url = f"http://127.0.0.1:{port}"
        yield base_url, Traffic(base_url, shop_key, blog_key, seconds=14)
        web.stop()
        worker.stop()


def test_dashboard_charts_drawn(inference_stack, korean_browser):
    base_url, traffic = inference_stack
    page = korean_browser
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    ARTIFACTS.mkdir(exist_ok=True)
    traffic.thread.start()

    page.goto(f"{base_url}/admin/login/?next=/admin/")
    page.fill("#id_username", "admin")
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_url(f"{base_url}/admin/")
    page.click(".app-tenancy .model-apikey a")
    page.wait_for_url(f"{base_url}/admin/tenancy/apikey/")
    assert len(page.locator("#result_list tbody tr").all()) == 2
    page.screenshot(path=ARTIFACTS / "dashboard-apikey-list.png", full_page=True)

    page.goto(f"{base_url}/admin/")
    page.screenshot(path=ARTIFACTS / "dashboard-admin-index.png", full_page=True)
    page.click("#monitoring-module a")
    page.wait_for_url(f"{base_url}/admin/dashboard/")
    assert page.locator("html").get_attribute("lang") == "ko"
    page.wait_for_function(CHARTS_DRAWN_SCRIPT, timeout=45_000, polling=500)
    charts = page.evaluate(CHART_STATE_SCRIPT)
    assert set(charts) == {"queue_depth", "throughput", "batch_size", "errors"}
    for name, chart in charts.items():
        assert chart["points"] >= 2, name
        assert chart["pixels"] > 20, name
    assert page.locator("#dashboard-status.error").count() == 0
    tasks = page.locator("#dashboard-queues tbody th").all_inner_texts()
    assert tasks == ["embed", "generate", "translate", "stt", "ocr"]
    assert "default-embed" in page.locator("#dashboard-engines tbody").inner_text()

    # Once the traffic has ended, a shorter period polls at once and redraws every chart
    # with fewer buckets, so the screenshot shows the whole run.
    traffic.thread.join(timeout=30)
    page.select_option("#dashboard-minutes", "5")
    # 5 minutes of 5-second buckets.
    page.wait_for_function("window.redgxDashboard.charts.throughput.plot.data[0].length === 60", timeout=10_000)
    page.wait_for_function(CHARTS_DRAWN_SCRIPT, timeout=10_000, polling=500)
    page.screenshot(path=ARTIFACTS / "dashboard-ko.png", full_page=True)

    # The admin's language switcher changes the dashboard's language too.
    page.select_option("#language-switcher-select", "en")
    page.click("#language-switcher button[type=submit]")
    page.wait_for_url(f"{base_url}/admin/dashboard/")
    assert page.locator("html").get_attribute("lang") == "en"
    assert page.locator("#content h1").inner_text() == "Inference dashboard"
    page.wait_for_function(CHARTS_DRAWN_SCRIPT, timeout=30_000, polling=500)
    page.screenshot(path=ARTIFACTS / "dashboard-en.png", full_page=True)

    assert not traffic.thread.is_alive()
    assert 202 in traffic.statuses
    assert 429 in traffic.statuses
    assert requested
    assert [url for url in requested if not url.startswith(base_url + "/")] == []
