"""The status page, as an operator's browser shows it.

The real daemon with ``metrics: {enabled: true}`` against the sample apps;
the system's Chromium, headless, driven over WebDriver by the system's
chromedriver (nothing is downloaded). The page's screenshot is kept as a
test artefact: under the test's tmp dir and in ``tests/artifacts/``.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from e2e_support import LEFT_TOKEN, REPO, RIGHT_TOKEN
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
ARTIFACTS = REPO / "tests" / "artifacts"


@pytest.fixture
def browser() -> Iterator[webdriver.Chrome]:
    # Installed by tests/run.sh (apt-get install chromium chromium-driver).
    assert CHROMIUM.exists() and CHROMEDRIVER.exists(), \
        "Chromium and chromedriver are needed: run the tests with tests/run.sh, which installs them"
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for arg in ("--headless=new", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1400,700"):
        options.add_argument(arg)
    if os.geteuid() == 0:
        options.add_argument("--no-sandbox")  # Chromium refuses to run as root with its sandbox
    driver = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def test_the_page_shows_each_integration_its_state_and_counts(pair, daemon, browser, tmp_path) -> None:
    p = pair(left_n=4, right_n=1)
    p.daemon_settings += "metrics: {enabled: true, listen: '127.0.0.1:0'}\n"
    p.write(extra="schedule: every 1 hour\n")
    d = daemon(p)
    [started] = d.named("syncd started")
    d.wait_for("cycle finished")
    summary = d.integration("pair")["last_summary"]
    assert summary["created"] == {"left": 1, "right": 4}

    browser.get(started["metrics"] + "/")
    assert browser.title == "syncd status"
    row = browser.find_element(By.CSS_SELECTOR, 'tr[data-integration="pair"]')
    assert row.find_element(By.CSS_SELECTOR, "th").text.startswith("pair")
    assert row.find_element(By.CSS_SELECTOR, "td.state").text == "waiting"
    assert row.find_element(By.CSS_SELECTOR, "td.last .result").text == "ok"
    assert "s ago" in row.find_element(By.CSS_SELECTOR, "td.last").text
    assert "in " in row.find_element(By.CSS_SELECTOR, "td.next").text  # the next cycle, in about an hour
    counts = {dd.get_attribute("data-count"): dd.text
              for dd in row.find_elements(By.CSS_SELECTOR, "td.counts dd")}
    assert counts["read"] == "4 / 1" and counts["created"] == "1 / 4" and counts["errors"] == "0"
    assert "1 integration running, 0 failing, 0 disabled" in browser.find_element(By.CSS_SELECTOR,
                                                                                   ".summary").text
    # it refreshes itself, and the stylesheet shipped with it applies
    refresh = browser.find_element(By.CSS_SELECTOR, 'meta[http-equiv="refresh"]')
    assert refresh.get_attribute("content") == "5"
    assert browser.find_element(By.CSS_SELECTOR, "th").value_of_css_property("background-color") == \
        "rgba(246, 248, 250, 1)"
    # no secret on it
    assert LEFT_TOKEN not in browser.page_source and RIGHT_TOKEN not in browser.page_source

    shot = tmp_path / "status-page.png"
    assert browser.save_screenshot(str(shot)) and shot.stat().st_size > 0
    ARTIFACTS.mkdir(exist_ok=True)
    shutil.copy(shot, ARTIFACTS / "status-page.png")
    print(f"screenshot of the status page: {shot} (copied to {ARTIFACTS / 'status-page.png'})")
    assert d.stop() == 0
