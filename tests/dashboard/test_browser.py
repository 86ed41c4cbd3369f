"""``readiness demo`` in headless Debian Chromium: it comes up, the overview shows the verdict and the four
areas, "Run checks now" completes, a screenshot is saved, and no demo secret reaches the page's HTML or its
websocket frames (the Streamlit protocol's protobuf bytes, searched raw).

Skips with a reason when /usr/bin/chromium (or playwright) is missing, unless READINESS_REQUIRE_BROWSER=1
(set by .ci/run), in which case the skip becomes a failure. Never runs `playwright install`.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from checks.standins import demo_config
from tests.dashboard.story import stop_group

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = ROOT / "tests" / "artifacts"
AREAS = [
    "OAuth Application Registrations",
    "Token Vault Service Architecture",
    "Provider Sandbox Accounts",
    "Development Environment Setup",
]
PAGES = [
    ("checks", "Checks"),
    ("oauth", "OAuth apps"),
    ("vault", "Token vault"),
    ("checkpoint", "Checkpoint"),
    ("notifications", "Notifications"),
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


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(url: str, proc: subprocess.Popen, log: Path, timeout: float = 180.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"`readiness demo` exited with {proc.returncode}:\n{log.read_text(errors='replace')[-3000:]}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    pytest.fail(f"the dashboard did not come up within {timeout:g}s:\n{log.read_text(errors='replace')[-3000:]}")


@pytest.fixture
def demo_app(tmp_path):
    """``readiness demo --no-browser`` on a free port; the process group is killed afterwards."""
    port = free_port()
    directory = tmp_path / "demo"
    log = tmp_path / "demo.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "checks.shell.cli",
                "demo",
                "--no-browser",
                "--port",
                str(port),
                "--dir",
                str(directory),
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=tmp_path,  # no readiness.toml here: the packaged manifest, as for a newcomer
            env=dict(os.environ),
            start_new_session=True,
        )
    try:
        wait_for(f"http://127.0.0.1:{port}/_stcore/health", proc, log, timeout=420)  # the demo builds 3 weeks
        yield f"http://127.0.0.1:{port}", directory, log
    finally:
        stop_group(proc)


def test_demo_in_chromium(demo_app):
    require_browser()
    from playwright.sync_api import expect, sync_playwright

    url, directory, log = demo_app
    config = demo_config(directory)
    secrets = config.secret_values()
    frames: list[bytes] = []
    htmls: list[str] = []
    errors: list[str] = []

    def on_websocket(ws):
        def keep(payload):
            frames.append(payload if isinstance(payload, bytes) else payload.encode("utf-8", "surrogatepass"))

        ws.on("framereceived", keep)
        ws.on("framesent", keep)

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.on("websocket", on_websocket)
            page.goto(url)

            expect(page.get_by_role("heading", name="STORY-ONB-05 · Portal Connect Accounts Wizard")).to_be_visible(
                timeout=60_000
            )
            expect(page.get_by_text("CONDITIONAL", exact=True).first).to_be_visible(timeout=60_000)
            for title in AREAS:
                expect(page.get_by_text(title, exact=True).first).to_be_visible()
            expect(page.get_by_text("Provider Account Blocks").first).to_be_visible()

            page.get_by_role("button", name="Run checks now").click()
            done = page.get_by_text("Run finished:")
            expect(done).to_be_visible(timeout=120_000)
            assert "CONDITIONAL" in done.inner_text()
            expect(page.get_by_text("CONDITIONAL", exact=True).first).to_be_visible()
            page.mouse.move(5, 990)  # no tooltip over the button in the picture
            page.set_viewport_size({"width": 1400, "height": 2400})  # Streamlit scrolls inside: show it all
            settle(page, "the overview after the run")
            page.screenshot(path=str(ARTIFACTS / "dashboard.png"), full_page=True)
            htmls.append(page.content())
            page.set_viewport_size({"width": 1400, "height": 1000})

            for path, title in PAGES:
                page.goto(f"{url}/{path}")
                expect(page.get_by_role("heading", name=title).first).to_be_visible(timeout=60_000)
                settle(page, path)  # the page's elements have arrived over the websocket and drawn
                htmls.append(page.content())
        finally:
            browser.close()

    assert frames, "no websocket frame was seen"
    blob = b"".join(frames)
    text = "\n".join(htmls)
    assert "Run finished: CONDITIONAL" in text
    for secret in secrets:
        assert secret not in text, f"a demo secret ({len(secret)} chars) is in the page's HTML"
        assert secret.encode() not in blob, f"a demo secret ({len(secret)} chars) is in the websocket frames"
    assert not errors, errors
    assert "Traceback" not in text


@contextmanager
def viewer_dashboard(tmp_path: Path, manifest_path: Path, history_url: str) -> Iterator[str]:
    """`readiness dashboard --role viewer` on ``history_url``, its clock pinned, until the block ends: its URL."""
    port = free_port()
    log = tmp_path / "dashboard.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("READINESS_", "TOKEN_VAULT_"))}
    env.update({"HOME": str(tmp_path), "READINESS_DASHBOARD_NOW": "2025-10-15T10:00:00+00:00"})
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [
                sys.executable, "-m", "checks.shell.cli", "dashboard", "--role", "viewer", "--port", str(port),
                "--manifest", str(manifest_path), "--db", history_url,
            ],
            stdout=out, stderr=subprocess.STDOUT, cwd=tmp_path, env=env, start_new_session=True,
        )  # fmt: skip
    try:
        wait_for(f"http://127.0.0.1:{port}/_stcore/health", proc, log)
        yield f"http://127.0.0.1:{port}"
    finally:
        stop_group(proc)


def test_viewer_dashboard_offers_no_sweep_in_chromium(tmp_path, history_url, manifest_path):
    """`readiness dashboard --role viewer`: "Run checks now" is drawn disabled with the one-line reason, and
    pressing it anyway records nothing (a sweep is a write)."""
    require_browser()
    from playwright.sync_api import expect, sync_playwright

    from checks.storage.history import Store

    with Store.open(history_url) as store:
        before = len(store.runs(limit=1000))
    with viewer_dashboard(tmp_path, manifest_path, history_url) as url, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(url)
            expect(page.get_by_text("NO-GO", exact=True).first).to_be_visible(timeout=60_000)
            button = page.get_by_role("button", name="Run checks now")
            expect(button).to_be_visible()
            expect(button).to_be_disabled()
            expect(page.get_by_text("it needs the release_manager or admin role").first).to_be_visible()
            button.click(force=True)  # a disabled button ignores it; nothing may run
            page.wait_for_timeout(2000)
            expect(page.get_by_text("Run finished:")).to_have_count(0)
        finally:
            browser.close()
    with Store.open(history_url) as store:
        assert len(store.runs(limit=1000)) == before


EMOJI = re.compile("[\u2300-\u23ff\u2460-\u27bf\u2b00-\u2bff\u2e80-\u2eff\U0001f000-\U0001faff\ufe0f]")
"""Pictographs a plain Debian Chromium has no font for: ✅ and ⬜ both come out as the same empty box."""
WIDTHS = (1440, 800)
EVERY_PAGE = [("", "overview", None), *((path, path, title) for path, title in PAGES), ("trends", "trends", "Trends")]
OVERFLOW = """() => {
  const bad = [];
  const name = (e) => `${e.tagName} ${e.getAttribute('data-testid') || ''} "${(e.innerText || '').slice(0, 40)}"`;
  const ownText = (e) => Array.from(e.childNodes).some(n => n.nodeType === Node.TEXT_NODE && n.textContent.trim());
  for (const region of document.querySelectorAll('[data-testid=stMain], [data-testid=stSidebarContent]')) {
    const where = region.getAttribute('data-testid') === 'stMain' ? 'main' : 'sidebar';
    if (region.scrollWidth > region.clientWidth + 1)
      bad.push(`the ${where} area scrolls sideways (${region.scrollWidth} > ${region.clientWidth} px)`);
    for (const e of region.querySelectorAll('*')) {  // text wider than its own box: it spills or is cut off
      if (e instanceof SVGElement || !e.clientWidth || e.scrollWidth <= e.clientWidth + 1 || !ownText(e)) continue;
      const s = getComputedStyle(e);
      if (s.overflowX === 'auto' || s.overflowX === 'scroll' || s.textOverflow === 'ellipsis') continue;
      bad.push(`text wider than its box in the ${where}: ${name(e)} (${e.scrollWidth} > ${e.clientWidth} px)`);
    }
  }
  return {scrollWidth: document.documentElement.scrollWidth, innerWidth: window.innerWidth, bad: bad.slice(0, 8)};
}"""
"""What is too wide on the page: the main area or the sidebar scrolling sideways, or text wider than its own box
(it spills over its neighbours or is cut off), outside the boxes meant to scroll (a code block) or to end in an
ellipsis. A table's grid and a Plotly chart draw their own text (canvas, SVG) and are not looked into."""
FULL_HEIGHT = "() => document.querySelector('[data-testid=stMainBlockContainer]').scrollHeight + 150"


@pytest.mark.timeout(1200)  # the demo builds three weeks of history first; twelve pages after
def test_every_page_at_two_widths_in_chromium(demo_app):
    """Each page at 1440 and 800 px: nothing too wide (OVERFLOW, itself shown to catch a line too wide), no emoji
    (font-dependent signs), no Deploy button or developer menu; the verdict, state badges and bars in their
    state's colour; met and open criteria drawn differently. Screenshots: tests/artifacts/<page>-<width>.png."""
    require_browser()
    from playwright.sync_api import expect, sync_playwright

    url, directory, _ = demo_app
    seed_notifications(directory)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    problems: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1440, "height": 1000})
            for width in WIDTHS:
                for path, name, title in EVERY_PAGE:
                    page.set_viewport_size({"width": width, "height": 1000})
                    page.goto(f"{url}/{path}")
                    heading = page.get_by_role("heading", name=title) if title else page.get_by_text("CONDITIONAL")
                    expect(heading.first).to_be_visible(timeout=60_000)
                    where = f"{name} at {width} px"
                    settle(page, where)
                    if (
                        page.get_by_role("button", name="Deploy").count()
                        or page.get_by_test_id("stAppDeployButton").count()
                    ):
                        problems.append(f"{where}: Streamlit's Deploy button is shown")
                    body = page.evaluate("() => document.body.innerText")
                    if found := sorted(set(EMOJI.findall(body))):
                        problems.append(f"{where}: emoji that depend on a font: {found}")
                    box = page.evaluate(OVERFLOW)
                    if box["scrollWidth"] > box["innerWidth"] or box["bad"]:
                        problems.append(f"{where}: too wide: {box}")
                    if name == "overview":
                        problems += overview_colours(page, where)
                    page.mouse.move(width - 5, 5)
                    height = min(int(page.evaluate(FULL_HEIGHT)) + 100, 7000)
                    page.set_viewport_size({"width": width, "height": max(height, 1000)})  # Streamlit scrolls inside
                    settle(page, where)
                    page.screenshot(path=str(ARTIFACTS / f"{name}-{width}.png"), full_page=True)
            problems += overflow_is_seen(page)
        finally:
            browser.close()
    assert not problems, "\n".join(problems)


WIDE_LINE = """(where) => {  // a line that may not wrap (Streamlit's markdown breaks long words; a badge does not)
  const box = document.querySelector(`[data-testid=${where}] [data-testid=stMarkdownContainer]`);
  const line = document.createElement('div');
  line.textContent = 'x'.repeat(400);
  line.style.whiteSpace = 'nowrap';
  box.appendChild(line);
  return () => line.remove();
}"""


def overflow_is_seen(page) -> list[str]:
    """OVERFLOW itself can fail: a line that may not wrap put into the main area, then into the sidebar, of the page
    last shown is reported both times (were Streamlit's test ids to change, the check would pass on nothing)."""
    out = []
    for region in ("stMain", "stSidebarContent"):
        page.evaluate(f"() => {{ window.undoWide = ({WIDE_LINE})('{region}'); }}")
        box = page.evaluate(OVERFLOW)
        page.evaluate("() => window.undoWide()")
        if not any("x" * 40 in line for line in box["bad"]):
            out.append(f"OVERFLOW missed a line too wide for {region}: {box}")
    return out


def seed_notifications(directory: Path) -> None:
    """What a watcher would have stored: a delivered verdict change, a failed escalation (long error text, to
    test wrapping at 800 px), a rate-limited waiver notice, and the escalation still open."""
    from datetime import timedelta

    from checks.core.alerts import Alert
    from checks.shell.demo import db_url
    from checks.shell.demo_story import DASHBOARD_NOW
    from checks.storage.history import Store
    from checks.storage.notifications import Notification, WatchBook

    now = DASHBOARD_NOW  # the demo's pinned clock
    base = {"channel": "release-mail", "transition": "opened", "body": "see the dashboard"}
    notes = [
        Notification(
            at=now - timedelta(hours=30),
            event="verdict",
            key="verdict",
            title="NO-GO: 3 blocking checks fail (twilio.account, google.oauth_app, ghl.proxy)",
            status="sent",
            **base,
        ),
        Notification(
            at=now - timedelta(hours=5),
            event="escalation",
            key="escalation:google_approval",
            title="Escalation: Google OAuth verification past 7 days",
            status="failed",
            contact="platform_lead",
            area="oauth",
            error="SMTP 550 5.1.1 <release@example.test>: "
            "mailbox unavailable; the message was not delivered to any recipient",
            **base,
        ),
        Notification(
            at=now - timedelta(hours=1),
            event="waiver",
            key="waiver:ghl",
            status="suppressed",
            title="Waiver of ghl.proxy expires in 2 days",
            **base,
        ),
    ]
    alert = Alert(
        "escalation:google_approval",
        "escalation",
        "fp",
        "Escalation: Google OAuth verification past 7 days",
        area="oauth",
        contact="platform_lead",
    )
    with Store.open(db_url(directory)) as store:
        WatchBook(store.engine).enqueue(notes, [alert], [], now)


ICONS = """() => Array.from(document.querySelectorAll('[data-testid=stMarkdownContainer] span'))
  .filter(e => e.children.length === 0 && /^[a-z_]+$/.test(e.textContent))
  .map(e => [e.textContent, getComputedStyle(e).fontFamily])"""
"""The Material icons in the page's markdown: (name, font family)."""


UNSETTLED = """() => {
  const pending = [];
  const app = document.querySelector('[data-testid=stApp]');
  if (!app) return ['no stApp'];
  if (app.getAttribute('data-test-script-state') !== 'notRunning')
    pending.push('script ' + app.getAttribute('data-test-script-state'));
  if (app.getAttribute('data-test-connection-state') !== 'CONNECTED')
    pending.push('connection ' + app.getAttribute('data-test-connection-state'));
  if (document.querySelector('[data-testid=stStatusWidget]')) pending.push('status widget');
  if (document.querySelector('[data-testid=stSkeleton]')) pending.push('skeleton');
  if (document.fonts.status !== 'loaded') pending.push('fonts');
  const visible = (e) => {  // shown and in the viewport: a table in a closed expander or below the fold has no grid
    if (e.closest('details:not([open])') || !e.checkVisibility()) return false;
    const r = e.getBoundingClientRect();
    return r.width > 0 && r.height > 0 && r.top < window.innerHeight && r.bottom > 0;
  };
  for (const t of document.querySelectorAll('[data-testid=stDataFrame]')) {
    if (!visible(t)) continue;
    const canvas = t.querySelector('canvas[data-testid=data-grid-canvas]');
    const scroller = t.querySelector('.dvn-scroller');
    if (!canvas || !scroller) { pending.push('table without its grid'); continue; }
    if (Math.abs(canvas.getBoundingClientRect().width - scroller.clientWidth) > 2) pending.push('table sizing');
  }
  for (const c of document.querySelectorAll('[data-testid=stPlotlyChart]')) {
    if (!visible(c)) continue;
    const plot = c.querySelector('.js-plotly-plot');
    if (!plot || !plot._fullLayout) { pending.push('chart not drawn'); continue; }
    if (plot._promises && plot._promises.length) pending.push('chart drawing');
    const svg = plot.querySelector('.main-svg');
    if (!svg || Math.abs(svg.getBoundingClientRect().width - plot.getBoundingClientRect().width) > 2)
      pending.push('chart sizing');
  }
  return pending;
}"""
"""What the page is still doing, by name: the script run, the connection, placeholders, fonts, each shown table's
grid canvas not yet sized to its scroller, each shown Plotly chart not yet laid out to its box ("shown": in the
viewport and not in a closed expander or another tab, where Streamlit mounts no grid). Reads Streamlit's and
Plotly's own state (test ids, ``_fullLayout``), so a new Streamlit or Plotly release may need it updated."""


def settle(page, where: str = "the page", timeout: float = 120_000) -> None:
    """Wait until nothing is pending (twice in a row, 100 ms apart: a rerun can start as the last one ends); on
    timeout fail with what was still pending."""
    deadline = time.monotonic() + timeout / 1000
    quiet = 0
    pending: list[str] = []
    while time.monotonic() < deadline:
        pending = page.evaluate(UNSETTLED)
        quiet = 0 if pending else quiet + 1
        if quiet >= 2:
            page.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")
            return
        page.wait_for_timeout(100)
    pytest.fail(f"{where} did not settle in {timeout / 1000:.0f} s: still {pending}")


def overview_colours(page, where: str) -> list[str]:
    """The verdict and each area's badge and bar in the state's colour; met and open criteria different."""
    out = []
    verdict = page.locator(".readiness-verdict").first
    if not verdict.count():
        return [f"{where}: no coloured verdict badge"]
    if verdict.inner_text() != "CONDITIONAL" or verdict.evaluate("e => getComputedStyle(e).backgroundColor") != (
        "rgb(154, 103, 0)"
    ):
        out.append(f"{where}: the CONDITIONAL verdict is not amber")
    colours = {
        "NOT STARTED": "rgb(207, 34, 46)",
        "PARTIAL": "rgb(154, 103, 0)",
        "NEEDS VALIDATION": "rgb(9, 105, 218)",
        "READY": "rgb(26, 127, 55)",
    }
    bars = page.locator(".readiness-bar").all()
    if len(bars) != 4:
        out.append(f"{where}: {len(bars)} state bars, not 4")
    for bar in bars:
        state = bar.get_attribute("data-state")
        fill = bar.locator(".readiness-bar-fill").evaluate("e => getComputedStyle(e).backgroundColor")
        if fill != colours.get(state or ""):
            out.append(f"{where}: the {state} bar is {fill}")
    for badge in page.locator(".readiness-state").all():
        state = badge.inner_text()
        if badge.evaluate("e => getComputedStyle(e).backgroundColor") != colours.get(state):
            out.append(f"{where}: the {state} badge is not in its colour")
    icons = page.evaluate(ICONS)
    names = {name for name, _ in icons}
    if not {"check_circle", "radio_button_unchecked"} <= names:
        out.append(f"{where}: met and open criteria are not drawn with different icons: {sorted(names)[:10]}")
    fonts = {font for name, font in icons if name in ("check_circle", "radio_button_unchecked")}
    if not fonts or not all("Material" in f for f in fonts):
        out.append(f"{where}: icons not drawn with Streamlit's Material font ({fonts})")
    return out


def test_trends_period_and_range_selector_in_chromium(tmp_path, history_url, manifest_path):
    """The Trends page's period control redraws the trend a point per day for "All", and Plotly's range
    selector (client-side zoom) is drawn on it."""
    require_browser()
    from playwright.sync_api import expect, sync_playwright

    errors: list[str] = []
    with viewer_dashboard(tmp_path, manifest_path, history_url) as url, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.goto(f"{url}/trends")
            expect(page.get_by_role("heading", name="Trends").first).to_be_visible(timeout=60_000)
            expect(page.get_by_text("Blocking checks passing", exact=True).first).to_be_visible(timeout=60_000)
            expect(page.locator(".rangeselector .button").first).to_be_visible()
            page.get_by_text("All", exact=True).first.click()
            expect(page.get_by_text("Blocking checks passing, per day").first).to_be_visible(timeout=60_000)
            expect(page.get_by_text("A point per day", exact=False).first).to_be_visible()
            expect(page.locator(".rangeselector").get_by_text("90 d").first).to_be_visible()  # the daily buttons
            settle(page)
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "trends-all.png"), full_page=True)
        finally:
            browser.close()
    assert not errors, errors
