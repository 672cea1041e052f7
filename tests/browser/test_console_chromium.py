"""The console in a real browser (Debian's Chromium, headless, driven by Selenium):
log in with the keyboard, see the agents on calls, click Whisper, answer (faked),
switch to barge, log out. ARI and the engine are fakes (tests/unit/test_http_console.py);
the HTTP server, the pages and the event stream are coachd's own.

Screenshots go to ``$COACHD_CONSOLE_SCREENSHOTS`` (default ``test-artifacts/``):
``console-login.png``, ``console.png`` (a laptop) and ``console-tablet.png``.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import WebDriverWait

from coachd.http.api import Api
from coachd.http.feed import EventFeed
from tests.unit.test_http_console import PASSWORD, FakeAri, FakeEngine, make_config, start

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
SHOTS = Path(os.environ.get("COACHD_CONSOLE_SCREENSHOTS", "test-artifacts"))


class AnsweringEngine(FakeEngine):
    """Rings "the phone" and has the supervisor answer 0.3 s later."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.rung: list[tuple[str, str, str]] = []

    async def ring_supervisor(
        self, *, session_id: str, endpoint: str, agent: str, mode: Any
    ) -> None:
        self.rung.append((endpoint, agent, mode.value))
        loop = asyncio.get_running_loop()
        loop.call_later(
            0.3, lambda: loop.create_task(start(self.feed, session_id, "sup1", agent, mode.value))
        )


class Server:
    """coachd's HTTP API with the console, on a port of its own, in a thread."""

    def __init__(self) -> None:
        self.ready = threading.Event()
        self.port = 0
        self.engine: AnsweringEngine | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=lambda: asyncio.run(self._serve()), daemon=True)

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        config = make_config()
        ari = FakeAri()
        ari.call("PJSIP/1042", "chan-1042", age=200)
        ari.call("PJSIP/1043", "chan-1043", age=35)
        ari.call("PJSIP/1047", "chan-1047", age=3725)
        feed = EventFeed("browser")
        self.engine = AnsweringEngine(ari, config, feed)
        api = Api(config=config, engine=self.engine, feed=feed, ready=lambda: True)  # type: ignore[arg-type]
        runner = web.AppRunner(api.app(), shutdown_timeout=0.5)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        self.port = runner.addresses[0][1]
        self.ready.set()
        await self._stop.wait()
        await feed.close()
        await runner.cleanup()

    def __enter__(self) -> Server:
        self._thread.start()
        assert self.ready.wait(10), "the test server did not start"
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._loop is not None and self._stop is not None
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/console/"


@pytest.fixture
def server() -> Iterator[Server]:
    with Server() as running:
        yield running


@pytest.fixture
def browser() -> Iterator[WebDriver]:
    for tool in (CHROMIUM, CHROMEDRIVER):
        assert shutil.which(tool), f"{tool} is missing: apt-get install chromium chromium-driver"
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--window-size=1280,1000",
    ):
        options.add_argument(arg)
    # A driver path given: Selenium Manager never downloads anything.
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.implicitly_wait(0)
    try:
        yield driver
    finally:
        driver.quit()


def wait_for(driver: WebDriver, what: Callable[[WebDriver], Any], seconds: float = 10) -> Any:
    return WebDriverWait(driver, seconds, poll_frequency=0.1).until(what)


def text_of(driver: WebDriver, css: str) -> str:
    found = driver.find_elements(By.CSS_SELECTOR, css)
    return found[0].text if found else ""


def button(driver: WebDriver, label: str) -> WebElement:
    return driver.find_element(By.CSS_SELECTOR, f'button[aria-label="{label}"]')


def test_log_in_see_agents_whisper_barge_and_log_out(server: Server, browser: WebDriver) -> None:
    browser.get(server.url)
    user = wait_for(browser, lambda d: d.find_element(By.ID, "login-user"))
    SHOTS.mkdir(parents=True, exist_ok=True)
    browser.save_screenshot(str(SHOTS / "console-login.png"))
    assert browser.switch_to.active_element == user  # focus starts in the form
    user.send_keys("sup1")
    browser.find_element(By.ID, "login-password").send_keys(PASSWORD["sup1"], Keys.ENTER)

    wait_for(browser, lambda d: "1042" in text_of(d, "#agent-rows"))
    rows = browser.find_elements(By.CSS_SELECTOR, "#agent-rows tr")
    assert len(rows) == 3
    assert re.search(r"\b1:0\d:\d\d\b", text_of(browser, "#agent-rows"))  # 1047: over an hour
    assert text_of(browser, "#who-name") == "sup1"
    wait_for(browser, lambda d: text_of(d, "#link") == "live")

    button(browser, "Whisper 1042").click()
    engine = server.engine
    assert engine is not None
    wait_for(browser, lambda d: engine.rung)
    assert engine.rung == [("PJSIP/2001", "1042", "whisper")]

    # Answered: the session appears, in whisper, and the change is announced.
    wait_for(browser, lambda d: d.find_elements(By.CSS_SELECTOR, ".session.mode-whisper"))
    assert text_of(browser, ".session .mode-badge").lower() == "whisper"
    announced = browser.find_element(By.ID, "mode-announcer").get_attribute("textContent")
    assert "only the agent hears you" in (announced or "")
    pressed = browser.find_element(By.CSS_SELECTOR, '.session button[aria-pressed="true"]')
    assert pressed.text == "Whisper"
    # One session at a time: the agents' start buttons wait.
    assert not button(browser, "Monitor 1043").is_enabled()

    browser.find_element(By.CSS_SELECTOR, '.session button[data-mode="barge"]').click()
    wait_for(browser, lambda d: d.find_elements(By.CSS_SELECTOR, ".session.mode-barge"))
    assert engine.requested[-1][1:] == ("sup1", "barge")
    badge = browser.find_element(By.CSS_SELECTOR, ".session .mode-badge")
    assert badge.value_of_css_property("background-color") == "rgba(179, 38, 30, 1)"  # red
    announced = browser.find_element(By.ID, "mode-announcer").get_attribute("textContent")
    assert "the caller hears you" in (announced or "")
    assert "you · Barge" in text_of(browser, "#agent-rows")

    browser.save_screenshot(str(SHOTS / "console.png"))
    browser.set_window_size(820, 1180)  # a tablet, portrait
    browser.save_screenshot(str(SHOTS / "console-tablet.png"))

    browser.find_element(By.ID, "logout").click()
    wait_for(browser, lambda d: d.find_element(By.ID, "login").is_displayed())
    browser.refresh()
    wait_for(browser, lambda d: d.find_element(By.ID, "login").is_displayed())
