"""report.html in a real browser (Debian chromium + chromium-driver, through Selenium).

The page is served by a local HTTP server twice: as a relaxed Jenkins serves it (filters work:
filter to HIGH, count the visible rows against the data) and with Jenkins' default
Content-Security-Policy (no script, no inline style: still a readable table, every finding
visible, the "filters need JavaScript" note shown). Screenshots go to the test's tmp directory.
"""

from __future__ import annotations

import shutil

import pytest

from scanners.base import ScanOutcome
from scanners.formats.html import render
from tests.support.gate import evaluate_files as evaluate
from scanners.policy import load_policy
from tests.scanners.test_reports import ALL_REPORTS

JENKINS_DEFAULT_CSP = "sandbox; default-src 'none'; img-src 'self'; style-src 'self';"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")
pytestmark = pytest.mark.skipif(not (CHROMIUM and DRIVER), reason="Debian chromium + chromium-driver not installed (make deps)")

VISIBLE_ROWS = ("return Array.prototype.filter.call(document.querySelectorAll('#findings-table tbody tr'),"
                "function(r){return r.getClientRects().length > 0;}).length")


@pytest.fixture(scope="module")
def verdict():
    return evaluate(ALL_REPORTS, policy=load_policy(None),
                    outcomes=[ScanOutcome("sonarqube", "skipped", [], "SONAR_HOST_URL and SONAR_TOKEN not set")])


@pytest.fixture(scope="module")
def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for a in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--window-size=1280,900"):
        opts.add_argument(a)
    driver = webdriver.Chrome(service=Service(DRIVER), options=opts)
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()


def serve(httpserver, html: str, csp: str | None) -> str:
    headers = {"Content-Security-Policy": csp} if csp else {}
    httpserver.clear()
    httpserver.expect_request("/job/web/lastBuild/artifact/reports/gate/report.html").respond_with_data(
        html, content_type="text/html;charset=utf-8", headers=headers)
    return httpserver.url_for("/job/web/lastBuild/artifact/reports/gate/report.html")


def test_filter_to_high_counts_match_data(browser, verdict, httpserver, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    expected_high = sum(e.finding.severity == "HIGH" for e in verdict.findings)
    assert expected_high > 0
    browser.set_window_size(1280, 900)
    browser.get(serve(httpserver, render(verdict), None))
    form = browser.find_element(By.ID, "filters")
    WebDriverWait(browser, 10).until(lambda d: form.is_displayed())
    assert browser.execute_script(VISIBLE_ROWS) == len(verdict.findings)
    for box in form.find_elements(By.CSS_SELECTOR, 'input[name="sev"]'):
        if (box.get_attribute("value") == "HIGH") != box.is_selected():
            box.click()
    assert browser.execute_script(VISIBLE_ROWS) == expected_high
    assert browser.find_element(By.ID, "shown").text == f"{expected_high} of {len(verdict.findings)} findings shown"
    sevs = browser.execute_script("return Array.prototype.filter.call(document.querySelectorAll('#findings-table tbody tr'),"
                                  "function(r){return r.getClientRects().length>0;}).map(function(r){return r.cells[0].textContent;})")
    assert set(sevs) == {"HIGH"}
    browser.execute_script("document.getElementById('findings').scrollIntoView()")
    browser.save_screenshot(str(tmp_path / "report-high-1280.png"))
    # text filter within HIGH, then sorting by package keeps the filtered count
    target = next(e.finding for e in verdict.findings if e.finding.severity == "HIGH")
    browser.find_element(By.NAME, "q").send_keys(target.id)
    want = sum(e.finding.severity == "HIGH" and target.id.lower() in
               " ".join(str(x or "") for x in (e.finding.id, e.finding.title, e.finding.package, e.finding.target,
                                                e.finding.fingerprint, e.finding.tool)).lower()
               for e in verdict.findings)
    assert browser.execute_script(VISIBLE_ROWS) == want >= 1
    browser.find_element(By.NAME, "q").clear()
    browser.execute_script("document.getElementById('filters').dispatchEvent(new Event('input'))")
    header = browser.find_elements(By.CSS_SELECTOR, "#findings-table thead th")[4]
    header.find_element(By.TAG_NAME, "button").click()
    assert header.get_attribute("aria-sort") == "ascending"
    pkgs = browser.execute_script("return Array.prototype.filter.call(document.querySelectorAll('#findings-table tbody tr'),"
                                  "function(r){return r.getClientRects().length>0;}).map(function(r){return r.cells[4].textContent.toLowerCase();})")
    assert len(pkgs) == expected_high and pkgs == sorted(pkgs)


def test_phone_width_has_no_page_overflow(browser, verdict, httpserver, tmp_path):
    browser.set_window_size(390, 844)
    try:
        browser.get(serve(httpserver, render(verdict), None))
        width = browser.execute_script("return [document.documentElement.scrollWidth, window.innerWidth]")
        assert width[0] <= width[1] + 1, width
        browser.save_screenshot(str(tmp_path / "report-phone.png"))
        browser.execute_script("document.getElementById('findings-table').scrollIntoView()")
        browser.save_screenshot(str(tmp_path / "report-phone-findings.png"))
    finally:
        browser.set_window_size(1280, 900)


def test_jenkins_default_csp_degrades_to_readable_table(browser, verdict, httpserver, tmp_path):
    from selenium.webdriver.common.by import By

    browser.get(serve(httpserver, render(verdict), JENKINS_DEFAULT_CSP))
    assert "Security gate" in browser.find_element(By.TAG_NAME, "h1").text
    assert not browser.find_element(By.ID, "filters").is_displayed()      # the script did not run
    assert browser.find_element(By.ID, "nojs").is_displayed()
    assert browser.execute_script(VISIBLE_ROWS) == len(verdict.findings)  # everything readable, nothing hidden
    # the inline stylesheet was refused: the body keeps the browser's default 8px margin
    assert browser.execute_script("return getComputedStyle(document.body).marginTop") == "8px"
    chart = browser.find_element(By.CSS_SELECTOR, "#chart svg")
    assert 200 < chart.size["width"] <= 600 and chart.size["height"] > 100   # presentation attributes, not CSS
    bars = browser.find_elements(By.CSS_SELECTOR, "#chart svg rect")
    assert any(b.size["width"] > 50 for b in bars)
    assert browser.find_element(By.ID, "findings-table").get_attribute("border") == "1"
    browser.save_screenshot(str(tmp_path / "report-jenkins-csp.png"))
