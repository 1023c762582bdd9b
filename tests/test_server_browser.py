"""The web page end to end in a real headless Chromium (Debian's, driven by Playwright; no browser download)."""

from __future__ import annotations

import shutil

import pytest

pytest.importorskip("fastapi")
sync_api = pytest.importorskip("playwright.sync_api")

from unmask.server import testing as server_testing  # noqa: E402
from unmask.testing.metadata import make_a1111_png, make_plain_image  # noqa: E402

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (apt-get install chromium)")


@pytest.fixture()
def server(tmp_path):
    srv = server_testing.start_server(tmp_path / "data", "--workers", "1")
    yield srv
    srv.stop()


@pytest.fixture()
def page():
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            context = browser.new_context()
            yield context.new_page()
        finally:
            browser.close()


def test_upload_in_the_browser_shows_the_verdict_and_the_report(server, page, tmp_path):
    fake = make_a1111_png(tmp_path / "generated.png")
    plain = make_plain_image(tmp_path / "holiday.png")
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(server.url + "/")
    assert page.title() == "unmask"
    page.set_input_files("#file-input", [str(fake), str(plain)])

    # Both rows reach a verdict; the generator-declared PNG is flagged, the plain one is not.
    fake_row = page.locator(".row.upload", has_text="generated.png")
    fake_row.locator(".verdict").wait_for(timeout=90_000)
    assert fake_row.locator(".verdict").get_attribute("data-verdict") == "likely_manipulated"
    assert "LIKELY MANIPULATED" in fake_row.locator(".verdict").inner_text()
    assert fake_row.locator(".reasons li").count() >= 1
    plain_row = page.locator(".row.upload", has_text="holiday.png")
    plain_row.locator(".verdict").wait_for(timeout=90_000)
    import unmask

    assert plain_row.locator(".verdict").get_attribute("data-verdict") == unmask.scan(plain).verdict.value

    # The report opens in the page's frame and shows the same verdict.
    fake_row.locator(".open-report").click()
    frame = page.frame_locator("#report-frame")
    frame.locator(".verdict").wait_for(timeout=30_000)
    assert "LIKELY MANIPULATED" in frame.locator(".verdict").first.inner_text()
    assert "generated.png" in page.locator("#report-title").inner_text()

    # The report page itself (its own URL) says it too.
    job_id = fake_row.get_attribute("data-id")
    report = page.context.new_page()
    report.goto(f"{server.url}/v1/scans/{job_id}/report.html")
    assert "LIKELY MANIPULATED" in report.locator(".verdict").first.inner_text()

    # History lists both scans.
    page.locator("#history tbody tr", has_text="holiday.png").wait_for(timeout=30_000)
    assert page.locator("#history tbody tr").count() == 2
    assert errors == []
