"""The HTML report in headless Debian Chromium: it renders offline, chart included, and is screenshotted.

Skips with a reason when /usr/bin/chromium (or playwright) is missing, unless READINESS_REQUIRE_BROWSER=1
(set by .ci/run), in which case the skip becomes a failure. Never runs `playwright install`.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from checks.presentation.report_build import build_report
from checks.presentation.report_html import render_html
from checks.storage.history import Store
from tests.checks.test_report import MANIFEST, W2, week0, week1, week2

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
HEADINGS = [
    "Executive Summary",
    "Detailed Assessment",
    "1. OAuth Application Registrations",
    "Risk Analysis",
    "Escalations",
    "Immediate Action Plan",
    "Success Criteria",
    "Week 1 Completion",
    "Changes Since Last Checkpoint",
]

pytestmark = pytest.mark.browser


def require_browser() -> None:
    """Skip (or fail, under READINESS_REQUIRE_BROWSER=1) when headless Chromium cannot be driven here."""
    reason = None
    if not CHROMIUM.exists():
        reason = f"{CHROMIUM} not found (Debian: apt-get install chromium)"
    else:
        try:
            import playwright.sync_api  # noqa: F401
        except ImportError:
            reason = "the playwright package is not installed (pip install -e '.[dev]')"
    if reason is None:
        return
    if os.environ.get("READINESS_REQUIRE_BROWSER") == "1":
        pytest.fail(f"{reason}; READINESS_REQUIRE_BROWSER=1 forbids skipping")
    pytest.skip(reason)


def test_html_report_renders_offline_with_its_chart(tmp_path, sqlite_url):
    require_browser()
    from playwright.sync_api import expect, sync_playwright

    with Store.open(sqlite_url) as store:
        week0(store)
        week1(store, checkpoint=True)
        week2(store)
        report = build_report(MANIFEST, store, now=W2)
        page_file = tmp_path / "report.html"
        page_file.write_text(render_html(report, store), encoding="utf-8")

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    blocked: list[str] = []
    errors: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 900})
            page.on("pageerror", lambda exc: errors.append(str(exc)))

            def only_files(route):
                if route.request.url.startswith("file:"):
                    route.continue_()
                else:
                    blocked.append(route.request.url)
                    route.abort()

            page.route("**/*", only_files)
            page.goto(page_file.as_uri())
            page.wait_for_selector(".plotly .main-svg", timeout=30_000)

            expect(page.locator("#verdict")).to_have_text("STATUS: CONDITIONAL - 1 BLOCKING GAP(S) WAIVED")
            expect(page.locator("#verdict")).to_be_visible()
            for name in HEADINGS:
                expect(page.get_by_role("heading", name=name, exact=True)).to_be_visible()
            assert page.locator(".plotly .scatterlayer .trace").count() == 2  # the runs and the checkpoints
            assert page.locator(".plotly .scatterlayer .trace").first.locator(".point").count() == 3
            assert page.locator("#trend-chart .xtick").count() > 0
            page.screenshot(path=str(ARTIFACTS / "report.png"), full_page=True)
        finally:
            browser.close()
    assert blocked == [], f"the page tried the network: {blocked}"
    assert errors == [], errors
    assert (ARTIFACTS / "report.png").stat().st_size > 10_000
