"""report.html in a real browser (Debian chromium + chromium-driver, through Selenium).

The page is served by a local HTTP server twice: as a relaxed Jenkins serves it (filters work:
filter to HIGH, count the visible rows against the data) and with Jenkins' default
Content-Security-Policy (no script, no inline style: still a readable table, every finding
visible, the "filters need JavaScript" note shown). Screenshots go to the test's tmp directory.
The page rules of issue 20 (17) are checked on the rendered page: no emoji glyph in a heading (a
plain Chromium has no emoji font: tofu), legend swatches in the bars' own computed colours, ids and
package names on one line each (the fingerprint column shrinks instead), the policy named relative
to the repository.
"""

from __future__ import annotations

import re
import shutil

import pytest

from scanners.base import ScanOutcome
from scanners.formats.html import render
from tests.support.gate import evaluate_files as evaluate
from scanners.policy import load_policy
from tests.scanners.test_reports import ALL_REPORTS
from tests.support.paths import PROJECT_ROOT

JENKINS_DEFAULT_CSP = "sandbox; default-src 'none'; img-src 'self'; style-src 'self';"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")
pytestmark = pytest.mark.skipif(not (CHROMIUM and DRIVER), reason="Debian chromium + chromium-driver not installed (make deps)")

# Emoji and pictographs (the blocks an emoji font covers; U+FE0F asks for emoji presentation)
EMOJI = re.compile("[\U0001F000-\U0001FAFF\u2600-\u27BF\u2B00-\u2BFF\u2300-\u23FF\uFE0F\u200D]")
ID_CELLS, PKG_CELLS = "#findings-table tbody td:nth-child(3)", "#findings-table tbody td:nth-child(5)"
HEADINGS = "h1, h2, h3, h4, h5, h6, th, summary, legend, caption"
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
    # without the stylesheet ids still stay whole: the cells carry the nowrap attribute
    broken = [t for t, n in browser.execute_script(LINES, ID_CELLS + "[nowrap]") if n > 1]
    assert not broken, broken[:5]
    browser.save_screenshot(str(tmp_path / "report-jenkins-csp.png"))


CHART_COLOURS = """
function pairs(sel){return Array.prototype.map.call(document.querySelectorAll(sel),function(r){
  var cs=getComputedStyle(r);return {state:r.getAttribute('data-state')||r.parentNode.getAttribute('data-state'),
  fill:cs.fill,opacity:cs.fillOpacity,w:r.getBoundingClientRect().width};});}
return {bars:pairs('#chart svg rect.bar'),legend:pairs('#chart svg g.legend rect')};"""

# every text line box of an element's contents: one line ⇔ all rects share one top
LINES = """
var out=[];Array.prototype.forEach.call(document.querySelectorAll(arguments[0]),function(el){
  var units=el.querySelectorAll('.nw');units=units.length?Array.prototype.slice.call(units):[el];
  units.forEach(function(u){var r=document.createRange();r.selectNodeContents(u);
    var tops={};Array.prototype.forEach.call(r.getClientRects(),function(x){if(x.width>0)tops[Math.round(x.top)]=1;});
    out.push([u.textContent,Object.keys(tops).length]);});});
return out;"""


def test_page_rules_in_a_screenshot(browser, verdict, httpserver, tmp_path):
    """Issue 20 (17): tofu-free headings, legend = bars, whole ids/packages, relative policy."""
    from selenium.webdriver.common.by import By

    browser.set_window_size(1280, 900)
    browser.get(serve(httpserver, render(verdict), None))
    browser.save_screenshot(str(tmp_path / "report-rules-top.png"))
    # 1. no glyph that needs an emoji font in any heading; the status mark is drawn (inline SVG)
    heads = browser.execute_script(f"return Array.prototype.map.call(document.querySelectorAll('{HEADINGS}'),"
                                   "function(h){return h.textContent;})")
    assert heads and not [h for h in heads if EMOJI.search(h)], [h for h in heads if EMOJI.search(h)]
    mark = browser.find_element(By.CSS_SELECTOR, "h1 svg circle")
    assert mark.size["width"] > 10 and browser.execute_script(
        "return getComputedStyle(arguments[0]).fill", mark) == "rgb(207, 34, 46)"   # failed gate: red
    # 2. legend swatches are the bars' colours: each bar's computed (fill, opacity) is in its
    #    state's swatch, each swatch holds every severity colour at that state's opacity
    colours = browser.execute_script(CHART_COLOURS)
    bars, legend = colours["bars"], colours["legend"]
    assert bars and legend
    swatch: dict[str, set] = {}
    for r in legend:
        swatch.setdefault(r["state"], set()).add((r["fill"], r["opacity"]))
        assert r["w"] > 2
    assert set(swatch) == {"new", "existing", "allowlisted"}
    for b in bars:
        assert (b["fill"], b["opacity"]) in swatch[b["state"]], b
    bar_fills = {b["fill"] for b in bars}
    for state, got in swatch.items():
        assert bar_fills <= {f for f, _ in got}
        assert len({o for _, o in got}) == 1            # one opacity per state …
    assert len({next(iter(got))[1] for got in swatch.values()}) == 3   # … a different one for each
    assert "rgb(87, 96, 106)" not in {f for got in swatch.values() for f, _ in got}   # no grey stand-in
    # 3. ids and package names never break mid-word; the fingerprint column may
    for sel in (ID_CELLS, PKG_CELLS, "#fix-plan td.pkg code"):
        styles = browser.execute_script(
            "return Array.prototype.map.call(document.querySelectorAll(arguments[0]),function(c){"
            "var s=getComputedStyle(c);return [s.overflowWrap,s.wordBreak];})", sel)
        assert styles and all(ow != "anywhere" and wb not in ("break-all", "break-word") for ow, wb in styles), sel
        lines = browser.execute_script(LINES, sel)
        broken = [t for t, n in lines if n > 1]
        assert lines and not broken, (sel, broken[:5])
    ids = browser.execute_script(LINES, ID_CELLS)
    assert any(t.startswith("CVE-") for t, _ in ids) and any(t.startswith("GHSA-") for t, _ in ids)
    fp = browser.find_element(By.CSS_SELECTOR, "#findings-table tbody td:last-child code")
    assert browser.execute_script("return getComputedStyle(arguments[0]).wordBreak", fp) == "break-all"
    # the table fits the window: the whole page needs no horizontal scrolling at 1280 px
    widths = browser.execute_script("var t=document.getElementById('findings-table');"
                                    "return [t.getBoundingClientRect().width, t.parentNode.clientWidth]")
    assert widths[0] <= widths[1] + 1, widths
    # 4. the policy is named relative to the repository, never by the build machine's absolute path
    header = browser.find_element(By.CSS_SELECTOR, "header p:last-of-type").text
    assert "policy gantry default policy (scanners/policy.default.yaml)" in header
    assert not re.search(r"(^|\s)/[\w.-]+/", header) and str(PROJECT_ROOT) not in header
    browser.execute_script("document.getElementById('findings-table').scrollIntoView()")
    browser.save_screenshot(str(tmp_path / "report-rules-findings.png"))
