"""The training console in a real browser (Debian chromium + chromedriver, driven by Selenium) against a real
uvicorn server on 127.0.0.1: pick a scenario, advance, see the insight, Fix now and watch the queue drain, then an
exercise through to its debrief; no errors in the browser's console. Screenshots stay in tmp_path."""
from __future__ import annotations

import shutil
import signal
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

webdriver = pytest.importorskip("selenium.webdriver")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")
pytestmark = pytest.mark.skipif(not (CHROMIUM and DRIVER),
                                reason="needs Debian chromium and chromium-driver (apt-get install chromium "
                                       "chromium-driver)")

from selenium.common.exceptions import StaleElementReferenceException  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import Select, WebDriverWait  # noqa: E402

from mfi_sim.console.app import Catalog, ConsoleSettings, build_app  # noqa: E402

WAIT = 20.0          # seconds for any one thing to appear on the page
HARD_LIMIT = 90      # seconds for a whole test, enforced by SIGALRM


@pytest.fixture
def hard_timeout() -> Iterator[None]:
    def expire(signum: int, frame: Any) -> None:
        raise TimeoutError(f"browser test took longer than {HARD_LIMIT} s")
    old = signal.signal(signal.SIGALRM, expire)
    signal.alarm(HARD_LIMIT)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


@pytest.fixture(scope="module")
def server_url() -> Iterator[str]:
    """A real uvicorn server on a free loopback port, stopped after the module."""
    import uvicorn

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(build_app(ConsoleSettings(catalog=Catalog.bundled())), log_level="warning",
                                           lifespan="off", timeout_graceful_shutdown=1))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "the console server did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    """One headless Chromium for the module (starting one takes seconds)."""
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,1700",
                "--disable-gpu", "--no-first-run"):
        opts.add_argument(arg)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=opts, service=Service(DRIVER))
    driver.set_page_load_timeout(WAIT)
    driver.set_script_timeout(WAIT)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture
def browser(chromium: Any, server_url: str, hard_timeout: None) -> Iterator[Any]:
    """The shared browser on a fresh page: no session remembered, no log left from the test before."""
    chromium.get(server_url + "static/console.css")
    chromium.execute_script("window.sessionStorage.clear()")
    chromium.get_log("browser")
    yield chromium


def wait(driver: Any, what: Any) -> Any:
    """Waits for `what(driver)` to be truthy; the page redraws from the live stream, so an element found a moment
    ago may be gone: such a check just runs again."""
    return WebDriverWait(driver, WAIT, poll_frequency=0.1,
                         ignored_exceptions=(StaleElementReferenceException,)).until(what)


def text_of(driver: Any, css: str) -> str:
    return str(wait(driver, lambda d: d.find_element(By.CSS_SELECTOR, css).text or False))


def click(driver: Any, css: str) -> None:
    def done(d: Any) -> bool:
        found = d.find_elements(By.CSS_SELECTOR, css)
        if found:
            found[0].click()
        return bool(found)
    wait(driver, done)


def no_console_errors(driver: Any) -> None:
    errors = [e for e in driver.get_log("browser") if e["level"] in ("SEVERE", "ERROR")]
    assert errors == []


def start(driver: Any, url: str, scenario: str, exercise: bool) -> None:
    driver.get(url)
    wait(driver, lambda d: len(Select(d.find_element(By.ID, "scenario")).options) >= 10)
    Select(driver.find_element(By.ID, "scenario")).select_by_value(scenario)
    box = driver.find_element(By.ID, "exercise")
    if box.is_selected() != exercise:
        box.click()
    driver.find_element(By.ID, "start").click()
    wait(driver, lambda d: d.find_element(By.ID, "controls").is_displayed())


def jump(driver: Any, to: str) -> None:
    field = driver.find_element(By.ID, "jump-to")
    field.clear()
    field.send_keys(to)
    driver.find_element(By.ID, "jump").click()
    wait(driver, lambda d: f"T+{to} " in d.find_element(By.ID, "clock-offset").text)


def queued_now(driver: Any) -> int:
    return int(text_of(driver, "#tiles .tile .n"))


def test_insight_appears_and_fix_now_drains_the_queue(browser: Any, server_url: str, tmp_path: Path) -> None:
    start(browser, server_url, "connection-refused", exercise=False)
    assert "firewall" in browser.find_element(By.ID, "story").text
    jump(browser, "1h30m")
    assert not browser.find_elements(By.CSS_SELECTOR, ".insight")      # nothing has waited an hour yet
    browser.find_element(By.ID, "step").click()                          # to the next thing that happens
    card = text_of(browser, ".insight")
    assert "450 4.4.316" in card and "To on-premises" in card
    assert queued_now(browser) > 100
    browser.save_screenshot(str(tmp_path / "1-insight.png"))
    click(browser, ".insight button.fix-now")
    wait(browser, lambda d: "Done: fix now" in d.find_element(By.ID, "message").text)
    Select(browser.find_element(By.ID, "speed")).select_by_value("3600")
    browser.find_element(By.ID, "play").click()
    wait(browser, lambda d: queued_now(d) == 0 and not d.find_elements(By.CSS_SELECTOR, ".insight"))
    browser.find_element(By.ID, "play").click()                          # pause
    assert browser.find_element(By.ID, "play").text == "Play"
    browser.save_screenshot(str(tmp_path / "2-drained.png"))
    browser.find_element(By.CSS_SELECTOR, "#nav button[data-view=connectors]").click()
    assert "Fix now" in text_of(browser, "#connectors tr[data-connector]")
    assert text_of(browser, "#connectors tr[data-connector] td.queued") == "0"
    browser.find_element(By.CSS_SELECTOR, "#nav button[data-view=timeline]").click()
    assert "Admin clicks Fix now" in text_of(browser, "#timeline")
    browser.save_screenshot(str(tmp_path / "3-timeline.png"))
    no_console_errors(browser)


def test_exercise_through_to_the_debrief(browser: Any, server_url: str, tmp_path: Path) -> None:
    start(browser, server_url, "connection-refused", exercise=True)
    assert not browser.find_element(By.ID, "story-card").is_displayed()
    jump(browser, "2h10m")
    browser.find_element(By.CSS_SELECTOR, "#nav button[data-view=queue]").click()
    wait(browser, lambda d: "of " in d.find_element(By.ID, "queue-count").text)
    assert "450 4.4.316" in text_of(browser, "#queue")
    browser.find_element(By.CSS_SELECTOR, "#nav button[data-view=transcript]").click()
    wait(browser, lambda d: "Outcome: 450 4.4.316" in d.find_element(By.ID, "transcript").text)
    browser.save_screenshot(str(tmp_path / "4-transcript.png"))
    browser.find_element(By.CSS_SELECTOR, "#nav button[data-view=home]").click()
    click(browser, ".insight button.fix-now")
    wait(browser, lambda d: "Done: fix now" in d.find_element(By.ID, "message").text)
    browser.find_element(By.ID, "finish").click()
    text = text_of(browser, "#debrief table.compare")
    assert "You" in text and "Reference fix" in text and "Doing nothing" in text
    assert "Time to diagnose (first correct action) 1h10m 4h" in text
    assert "Admin clicks Fix now" in text_of(browser, "#debrief")
    browser.save_screenshot(str(tmp_path / "5-debrief.png"))
    no_console_errors(browser)


HOSTILE = '<img src=x onerror="document.title=\'pwned\'">'


def test_scenario_text_is_shown_as_text(browser: Any, server_url: str, tmp_path: Path) -> None:
    """A scenario sent as TOML with markup in its name, story and connector name: the page shows the markup as
    text and runs none of it."""
    import json
    import sys
    import urllib.request

    sys.path.insert(0, str(Path(__file__).parent))
    from helpers import scenario_text

    text = scenario_text().replace('name = "test"', f"name = {json.dumps(HOSTILE)}\ndescription = "
                                                    f"{json.dumps('Story ' + HOSTILE)}")
    text = text.replace('name = "To on-premises"', f"name = {json.dumps('Out ' + HOSTILE)}")
    request = urllib.request.Request(server_url + "api/sessions", data=json.dumps({"toml": text}).encode(),
                                     headers={"Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(request, timeout=WAIT) as r:
        sid = json.loads(r.read())["id"]
    browser.get(server_url)
    browser.execute_script("window.sessionStorage.setItem('mfi-console-session', arguments[0])", sid)
    browser.get(server_url)
    assert HOSTILE in text_of(browser, "#story")
    jump(browser, "1h")
    click(browser, "#nav button[data-view=connectors]")
    assert "Out " + HOSTILE in text_of(browser, "#connectors")
    assert browser.find_elements(By.CSS_SELECTOR, "#connectors img, #story img, #timeline img") == []
    assert browser.title == "mfi-sim training console"
    browser.save_screenshot(str(tmp_path / "6-escaped.png"))
    no_console_errors(browser)
