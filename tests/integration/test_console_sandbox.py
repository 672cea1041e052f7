"""The supervisor's console in headless Chromium against coachd on the sandbox:
log in, see the live call, click Whisper, answer the supervisor's phone, hear the
routing (the agent hears the supervisor, the caller does not), switch to Barge and
back from the page; the page follows each event within a second.

Selenium calls block, so they run in a thread: the audio captures live on the loop.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import WebDriverWait

from coachd.ari.client import AriClient
from coachd.passwords import hash_password
from tests.integration.conftest import wait_no_leftovers
from tests.sandbox.callcenter import DETECTOR, TONES, Party, connect_call, settle
from tests.sandbox.daemon import ARTIFACTS, SANDBOX_CONFIG, Daemon
from tests.sandbox.phones import Phones

LISTEN = "127.0.0.1:18789"
PASSWORD = "sup1-console-password"


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    text = SANDBOX_CONFIG.read_text()
    hashed = hash_password(PASSWORD, iterations=100_000)
    text = text.replace(
        'user = "sup1"\nendpoints', f'user = "sup1"\npassword_hash = "{hashed}"\nendpoints', 1
    )
    config: Path = tmp_path_factory.mktemp("console") / "coachd.toml"
    config.write_text(text)
    env = {
        "COACHD_HTTP__LISTEN": LISTEN,
        "COACHD_CONSOLE__ENABLED": "true",
        "COACHD_CONSOLE__AGENT_ENDPOINTS": "PJSIP/10*",
    }
    with Daemon(config, env=env, name="console").running() as daemon:
        yield daemon


@pytest.fixture
def browser() -> Iterator[WebDriver]:
    for tool in ("/usr/bin/chromium", "/usr/bin/chromedriver"):
        assert shutil.which(tool), f"{tool} is missing: apt-get install chromium chromium-driver"
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--window-size=1280,1000",
    ):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def until(driver: WebDriver, what: Callable[[WebDriver], Any], seconds: float = 10) -> float:
    """Wait (polling every 50 ms) until ``what``; returns the wall-clock time it held."""
    WebDriverWait(driver, seconds, poll_frequency=0.05).until(what)
    return time.time()


def logged_time(record: dict[str, Any]) -> float:
    return datetime.fromisoformat(record["timestamp"]).timestamp()


async def test_whisper_from_the_page_then_barge_and_back_proven_by_audio(
    phones: Phones, pbx: AriClient, console: Daemon, browser: WebDriver
) -> None:
    console.checkpoint()
    call = await connect_call(phones)

    def log_in() -> None:
        browser.get(f"http://{LISTEN}/console/")
        until(browser, lambda d: d.find_element(By.ID, "login-user"))
        browser.find_element(By.ID, "login-user").send_keys("sup1")
        browser.find_element(By.ID, "login-password").send_keys(PASSWORD, Keys.ENTER)
        until(browser, lambda d: "1042" in d.find_element(By.ID, "agent-rows").text)

    await asyncio.to_thread(log_in)

    def click(css: str) -> float:
        browser.find_element(By.CSS_SELECTOR, css).click()
        return time.monotonic()

    clicked = await asyncio.to_thread(click, 'button[aria-label="Whisper 1042"]')
    leg = await phones.answer("2001")
    answered = time.monotonic()
    ear = await leg.listen(DETECTOR, keep_samples=True)
    await leg.say_tone(TONES["supervisor"])
    sup = Party("supervisor", leg, ear)
    await settle(call, sup, "whisper", after=answered)
    heard = await call.agent.ear.wait_for("supervisor", 3.0, after=answered)
    started = await console.wait_event("session_started")
    assert started["mode"] == "whisper"
    shown = await asyncio.to_thread(
        until, browser, lambda d: d.find_elements(By.CSS_SELECTOR, ".session.mode-whisper")
    )
    figures = {
        "click_to_phone_answered_ms": round((answered - clicked) * 1000, 1),
        "click_to_agent_hears_supervisor_ms": round((heard - clicked) * 1000, 1),
        "answer_to_agent_hears_supervisor_ms": round((heard - answered) * 1000, 1),
        "session_started_to_page_ms": {"whisper": round((shown - logged_time(started)) * 1000)},
    }
    assert call.caller.ear.capture.count_with("supervisor", clicked) == 0

    for mode, then in (("barge", "whisper"), ("whisper", "barge")):
        del then
        console.checkpoint()
        sent = await asyncio.to_thread(click, f'.session button[data-mode="{mode}"]')
        await settle(call, sup, mode, after=sent)
        changed = await console.wait_event("mode_changed")
        assert (changed["after"], changed["source"]) == (mode, "api")
        shown = await asyncio.to_thread(
            until, browser, lambda d, m=mode: d.find_elements(By.CSS_SELECTOR, f".session.mode-{m}")
        )
        figures["session_started_to_page_ms"][mode + " (mode_changed)"] = round(
            (shown - logged_time(changed)) * 1000
        )
        figures[f"click_to_{mode}_audible_ms"] = round(
            (await settle(call, sup, mode, after=sent) - sent) * 1000, 1
        )
    # Back in whisper: the caller stopped hearing the supervisor.
    t = time.monotonic()
    await asyncio.sleep(0.6)
    assert call.caller.ear.capture.count_with("supervisor", t, t + 0.5) == 0
    assert call.agent.ear.capture.fraction_with("supervisor", t, t + 0.5) > 0.9

    ARTIFACTS.mkdir(exist_ok=True)
    await asyncio.to_thread(browser.save_screenshot, str(ARTIFACTS / "console-sandbox.png"))
    coverage = await asyncio.to_thread(lambda: browser.find_element(By.ID, "coverage-note").text)
    assert "cannot be read" not in coverage, coverage  # the coaching log is read
    (ARTIFACTS / "console-sandbox.json").write_text(json.dumps(figures, indent=2))
    print(json.dumps(figures))
    for delay in figures["session_started_to_page_ms"].values():
        assert delay < 1000, figures  # the page follows each event within a second

    await asyncio.to_thread(click, ".session button.end, .session button[data-action='end']")
    await console.wait_event("session_ended")
    assert await wait_no_leftovers(pbx, within=2.0) == []
