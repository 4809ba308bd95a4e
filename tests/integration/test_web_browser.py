"""The status page in a real headless Chromium (Debian's, driven by Selenium; no downloads).

A real daemon with a voice loop: its input is a long silent WAV played in real time, so a
question typed on the page with "say it aloud" goes through the loop and the page must show
the voice state change (thinking/speaking) live.  The tier must follow a PSI change within
5 s without a reload.  A screenshot of the overview is kept in ``tests/artifacts/``.
"""

from __future__ import annotations

import shutil
import tempfile
import time
import wave
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import REPO
from daemon_helpers import build_template, psi_text
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webdriver import WebDriver
from web_harness import (
    WebDaemon,
    chromium,
    log_in,
    start_daemon,
    text_of,
    wait,
)

pytestmark = pytest.mark.slow

ARTIFACTS = REPO / "tests" / "artifacts"
HARBOUR = "# Harbour notes\n\nThe blue heron boat is moored at pier seven, next to the old " \
          "lighthouse.\n"


def silent_wav(path: Path, seconds: int) -> Path:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(b"\0\0" * 16000 * seconds)
    return path


@pytest.fixture(scope="module")
def workdir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="xnb-", dir="/tmp"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="module")
def daemon(workdir: Path, models_dir: Path) -> Iterator[WebDaemon]:
    template = build_template(models_dir, workdir / "template")
    wav = silent_wav(workdir / "silence.wav", 900)
    (workdir / "run").mkdir()
    d = start_daemon(workdir / "run", models_dir, template, audio_input=str(wav),
                     extra="[tiers]\nquiet_s = 1.0\n")
    d.wait_status(lambda s: s["models"].get("tts") == "loaded", 180, "the voice models")
    try:
        yield d
    finally:
        assert d.stop() == 0, d.output()


@pytest.fixture(scope="module")
def browser(workdir: Path) -> Iterator[WebDriver]:
    driver = chromium(workdir / "profile")
    try:
        yield driver
    finally:
        driver.quit()


def test_log_in_ask_see_the_state_live_and_keep_a_screenshot(browser: WebDriver,
                                                             daemon: WebDaemon) -> None:
    log_in(browser, daemon)
    assert text_of(browser, "tier").isdigit()
    wait(browser, 30, "the voice loop's state", lambda d: text_of(d, "voice-state") in
         ("idle", "listening"))
    browser.execute_script("window.__notReloaded = true;")
    speak = browser.find_element(By.ID, "speak")
    if not speak.is_selected():
        speak.click()
    question = browser.find_element(By.ID, "question")
    question.send_keys("How do I add documents?")
    question.send_keys(Keys.ENTER)  # the keyboard alone is enough
    states: list[str] = []
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        state = text_of(browser, "voice-state")
        if not states or states[-1] != state:
            states.append(state)
        answer = text_of(browser, "answer")
        if answer and answer != "Thinking…":
            break
        time.sleep(0.05)  # polling interval
    print(f"voice states seen on the page: {states}")
    assert {"thinking", "speaking"} & set(states), states
    answer = text_of(browser, "answer")
    assert answer and not answer.startswith("Error"), answer
    assert "xnai-edge user manual" in text_of(browser, "answer-sources")
    assert browser.execute_script("return window.__notReloaded === true;")
    wait(browser, 30, "the last interaction on the page",
         lambda d: "How do I add documents?" in text_of(d, "last"))

    # The tier follows memory pressure live (SSE), within 5 s and without a reload.
    daemon.psi.write_text(psi_text(25.0))
    wait(browser, 5, "tier 2 on the page", lambda d: text_of(d, "tier") == "2")
    assert "psi" in text_of(browser, "tier-reason").lower()
    assert browser.execute_script("return window.__notReloaded === true;")
    daemon.psi.write_text(psi_text(0.0))
    wait(browser, 30, "tier 0 again", lambda d: text_of(d, "tier") == "0")

    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "web-overview.png"
    assert browser.save_screenshot(str(shot)) and shot.stat().st_size > 10_000
    browser.set_window_size(390, 844)  # a phone
    phone = ARTIFACTS / "web-overview-phone.png"
    assert browser.save_screenshot(str(phone))
    width = browser.execute_script("return document.documentElement.scrollWidth;")
    print(f"screenshots: {shot} {phone}; page width on a 390 px phone: {width}")
    assert width <= 400, "the overview scrolls sideways on a phone"
    browser.set_window_size(1200, 1400)


def test_upload_a_document_see_it_listed_and_ask_about_it(browser: WebDriver,
                                                          daemon: WebDaemon,
                                                          workdir: Path) -> None:
    browser.get(daemon.url)
    if "/login" in browser.current_url:
        log_in(browser, daemon)
    doc = workdir / "harbour.md"
    doc.write_text(HARBOUR)
    browser.get(daemon.url + "knowledge")
    browser.find_element(By.ID, "file").send_keys(str(doc))
    browser.find_element(By.ID, "upload-button").click()
    wait(browser, 120, "the upload added", lambda d: "Added" in text_of(d, "upload-status"))
    assert "Harbour notes" in text_of(browser, "upload-status")
    wait(browser, 10, "the document listed", lambda d: "Harbour notes" in text_of(d, "documents"))
    browser.refresh()
    assert "Harbour notes" in text_of(browser, "documents")

    browser.get(daemon.url)
    speak = browser.find_element(By.ID, "speak")
    if speak.is_selected():
        speak.click()
    browser.find_element(By.ID, "question").send_keys("Where is the blue heron boat moored?")
    browser.find_element(By.ID, "ask-button").click()
    wait(browser, 120, "the answer", lambda d: text_of(d, "answer") not in ("", "Thinking…"))
    print(f"answer: {text_of(browser, 'answer')!r} / {text_of(browser, 'answer-sources')!r}")
    assert "pier" in text_of(browser, "answer").lower()
    assert "Harbour notes" in text_of(browser, "answer-sources")

    # Remove it again from the Knowledge page.
    browser.get(daemon.url + "knowledge")
    browser.find_element(By.CSS_SELECTOR, 'button.remove[aria-label="Remove Harbour notes"]') \
        .click()
    wait(browser, 30, "the document gone",
         lambda d: "Harbour notes" not in text_of(d, "documents"))


def test_interactions_and_system_pages_render(browser: WebDriver, daemon: WebDaemon) -> None:
    browser.get(daemon.url + "interactions")
    assert "How do I add documents?" in text_of(browser, "interactions")
    assert browser.find_elements(By.CSS_SELECTOR, "figure.chart svg polyline")
    assert "total" in text_of(browser, "stage-stats")
    ARTIFACTS.mkdir(exist_ok=True)
    browser.save_screenshot(str(ARTIFACTS / "web-interactions.png"))
    browser.get(daemon.url + "system")
    browser.save_screenshot(str(ARTIFACTS / "web-system.png"))
    config = text_of(browser, "config-in-effect")
    assert "web.max_upload_mb" in config and daemon.password not in browser.page_source
    assert "starlette" in text_of(browser, "versions")
