"""The Great Expectations report: history kept between runs, Data Docs served over http and styled with no
network beyond 127.0.0.1 (real headless Chromium, every other host blocked)."""

import shutil
from pathlib import Path

import pytest

from dawsos_assets.tables.data_docs import start_server
from dawsos_assets.tables.expectations import validate_in_database

from .test_ui import free_port

CHROMIUM = shutil.which("chromium")
TABLES = ["lots", "portfolios"]


@pytest.fixture(scope="module")
def two_reports(databases):
    url = databases.migrated()
    return validate_in_database(url, TABLES), validate_in_database(url, TABLES)


def test_each_run_adds_to_the_kept_validation_history(two_reports):
    first, second = two_reports
    assert second["validation_results_kept"] == first["validation_results_kept"] + len(TABLES)
    site = Path(second["data_docs_site"])
    runs = list((site / "validations" / "dawsos_lots").rglob("*.html"))
    assert len(runs) >= 2
    assert second["suites"]["portfolios"]["success"]


@pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium package (.ci/run installs it)")
def test_data_docs_open_over_http_with_their_styles_and_nothing_from_other_hosts(two_reports):
    from playwright.sync_api import sync_playwright

    site = Path(two_reports[1]["data_docs_site"])
    port = free_port()
    server = start_server(port, site)
    origin = f"http://127.0.0.1:{port}"
    elsewhere = []

    def only_local(route):
        if route.request.url.startswith(origin):
            route.continue_()
        else:
            elsewhere.append(route.request.url)
            route.abort()

    validation_page = next((site / "validations" / "dawsos_lots").rglob("*.html")).relative_to(site).as_posix()
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=CHROMIUM,
                args=[
                    "--no-sandbox",
                    "--disable-gpu",
                    "--no-first-run",
                    "--disable-background-networking",
                    "--disable-component-update",
                    "--disable-sync",
                ],
            )
            page = browser.new_page()
            page.route("**/*", only_local)
            for path in ("index.html", validation_page):
                page.goto(f"{origin}/{path}", wait_until="networkidle", timeout=60_000)
                sheets = page.evaluate("""() => Array.from(document.querySelectorAll('link[rel=stylesheet]')).map(
                    l => { try { return {href: l.href, rules: l.sheet ? l.sheet.cssRules.length : 0}; }
                           catch (error) { return {href: l.href, rules: -1}; } })""")
                assert len(sheets) >= 6 and all(s["href"].startswith(origin) and s["rules"] > 0 for s in sheets), sheets
                assert page.evaluate("typeof jQuery") == "function"  # the scripts came from here too
            browser.close()
    finally:
        server.shutdown()
    assert elsewhere == []
