"""The HTML report as a person sees it: opened in a real browser (headless Chromium).

The report is mailed around and opened in browsers, so the test is a browser's: the page loads
with no errors in the console, every image decodes to a picture, and the numbers a reader looks
for are on the screen (visible text, not only somewhere in the HTML). It also saves a
screenshot of the first screen next to the report, for a person to look at.

Chromium and its driver come from the system's packages (``.ci/run`` installs them with apt-get
when they are missing), so that the browser and the driver are always the same version. On a
machine without them the test is skipped with the command that installs them; under CI
(``CI=true``) a missing browser is a failure instead.
"""

from __future__ import annotations

import os
import shutil

import pytest
from clvpredict.report import build_report

import clvpredict as cp

BROWSERS = ("chromium", "chromium-browser", "google-chrome")
DRIVERS = ("chromedriver",)


def _first_found(names: tuple[str, ...]) -> str | None:
    return next((path for path in map(shutil.which, names) if path), None)


@pytest.fixture(scope="module")
def browser():
    """A headless Chromium driven through its own chromedriver."""
    binary, driver_path = _first_found(BROWSERS), _first_found(DRIVERS)
    if binary is None or driver_path is None:
        message = (
            "no Chromium and chromedriver on PATH; install them with "
            "`apt-get install chromium chromium-driver` (Debian/Ubuntu)"
        )
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for argument in (
        "--headless=new",
        "--no-sandbox",  # CI runs as root, where Chromium's sandbox cannot start
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--window-size=1280,900",
        # A report is a local file: nothing it shows may need the network.
        "--host-resolver-rules=MAP * ~NOTFOUND",
    ):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=driver_path), options=options)
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture(scope="module")
def cdnow_report(tmp_path_factory):
    """The CDNOW report (39-week calibration, holdout to 1998-06-30), and what it is of."""
    folder = tmp_path_factory.mktemp("browser")
    tx = cp.datasets.load_cdnow()
    path = build_report(
        folder / "report.html",
        tx,
        "customer_id",
        "date",
        "amount",
        calibration_end="1997-09-30",
        observation_end="1998-06-30",
        margin=0.3,
        lifetime_years=1.5,
        currency="USD",
    )
    return path, tx


@pytest.fixture(scope="module")
def page(browser, cdnow_report):
    path, _ = cdnow_report
    browser.get(path.as_uri())
    browser.save_screenshot(str(path.with_name("first-screen.png")))
    return browser


def test_the_report_loads_without_console_errors(page):
    errors = [entry for entry in page.get_log("browser") if entry["level"] == "SEVERE"]
    assert not errors, errors


def test_every_image_shows_a_picture(page):
    images = page.execute_script(
        "return Array.from(document.images, i => "
        "({src: i.src.slice(0, 40), done: i.complete, width: i.naturalWidth}));"
    )
    assert len(images) >= 8, images
    broken = [image for image in images if not image["done"] or image["width"] == 0]
    assert not broken, broken


def test_the_headline_numbers_are_on_the_screen(page, cdnow_report):
    _, tx = cdnow_report
    text = page.find_element("tag name", "body").text
    # Counted here from the log itself, not from the report's own tables.
    customers = tx["customer_id"].nunique()
    assert f"{customers:,}" in text  # 2,357
    calibration = cp.calibration_holdout_summary(
        tx, "customer_id", "date", "1997-09-30", "1998-06-30", time_unit="W"
    )
    holdout_purchases = int(calibration["frequency_holdout"].sum())
    assert holdout_purchases == 1882  # Fader, Hardie & Lee (2005): 1,882 holdout repeat purchases
    assert "1,882 that happened" in text
    # The first screen's totals, from models fitted here on the whole history.
    rfm = cp.rfm_summary(tx, "customer_id", "date", "amount", time_unit="W")
    bg, gg = cp.BetaGeoModel().fit(rfm), cp.GammaGammaModel().fit(rfm)
    table = cp.clv_table(bg, gg, rfm, lifetime_years=1.5, margin=0.3)
    first_screen = text[: text.index("1. Can the model be trusted?")]
    assert (
        f"Predictive CLV, next 12 months {table['predictive_clv'].sum():,.0f} USD" in first_screen
    )
    revenue = (table["expected_purchases"] * table["expected_avg_value"]).sum()
    assert f"Expected revenue, next 12 months {revenue:,.0f} USD" in first_screen
    assert f"Simple-formula CLV {table['simple_clv'].sum():,.0f} USD" in first_screen
    # The total's interval (the report's seed is 0), with the currency on both bounds.
    interval = cp.total_clv_interval(bg, gg, rfm, margin=0.3, random_state=0)
    assert interval.lower < table["predictive_clv"].sum() < interval.upper
    assert (
        f"{interval.total:,.0f} USD, 90% interval {interval.lower:,.0f} to "
        f"{interval.upper:,.0f} USD" in first_screen
    )


def test_the_interval_is_on_the_first_screen(page):
    """The predictive total and its interval are seen without scrolling (1280 x 900)."""
    box = page.execute_script(
        "const cell = [...document.querySelectorAll('table.glance td')]"
        ".find(td => td.textContent.includes('90% interval'));"
        "if (!cell) return null;"
        "const r = cell.getBoundingClientRect();"
        "return {top: r.top, bottom: r.bottom, height: window.innerHeight, text: cell.innerText};"
    )
    assert box is not None
    assert 0 <= box["top"] and box["bottom"] <= box["height"], box
    assert box["text"].count("USD") == 2, box["text"]
