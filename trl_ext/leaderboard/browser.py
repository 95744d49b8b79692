"""Headless Chromium (Debian's chromium + chromium-driver) through Selenium, to look at the app as a person
would: the browser test and scripts/screenshot_leaderboard.py use it."""

from __future__ import annotations

import shutil

CHROME_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--window-size=1400,1000",
)


def chromium_available() -> bool:
    return bool(shutil.which("chromium") and shutil.which("chromedriver"))


def headless_chrome():
    """A Selenium driver for headless Chromium that records the browser console."""
    from selenium import webdriver

    if not chromium_available():
        raise RuntimeError(
            "chromium and chromedriver are not installed: apt-get install -y chromium chromium-driver"
        )
    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium")
    for flag in CHROME_FLAGS:
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(
        options=options, service=webdriver.ChromeService(executable_path=shutil.which("chromedriver"))
    )


def wait_for_rows(driver, text: str, timeout: float = 60) -> str:
    """Wait until the leaderboard table shows `text`; return the table's text."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, timeout).until(lambda d: text in d.find_element(By.ID, "leaderboard-table").text)
    return driver.find_element(By.ID, "leaderboard-table").text
