"""The explorer in a real browser: `textgen serve` on a free loopback port with a tiny model, and
Debian's chromium driven by Python playwright (no browser download: `.ci/run` installs
chromium with apt). Type a prompt, see the bars and check the top word against /api/next, click
it, continue the story (streamed), diagnose it and open the memory view."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import ONE_THREAD, REPO

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(os.environ.get("TEXTGEN_TEST_ARTIFACTS", REPO / ".artifacts"))  # screenshots of the run (git ignores it)


def need_chromium() -> None:
    """Without chromium the test is skipped with the command that installs it, except in CI
    (CI=true), where a missing browser is a failure."""
    if CHROMIUM.exists():
        return
    message = "the browser test needs Debian's chromium at /usr/bin/chromium: apt-get install -y chromium (.ci/run does)"
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="module")
def server(trained):
    process = subprocess.Popen([sys.executable, "-m", "textgen.cli", "serve", str(trained), "--port", "0"], cwd=REPO,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=ONE_THREAD)
    line = process.stderr.readline()
    match = re.search(r"http://127\.0\.0\.1:(\d+)", line)
    assert match, line + (process.stderr.read() if process.poll() is not None else "")
    yield f"http://127.0.0.1:{match.group(1)}"
    process.terminate()
    process.wait(30)


def post(url: str, body: dict) -> dict:
    request = urllib.request.Request(url, json.dumps(body).encode(), {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.loads(response.read())


@pytest.mark.slow
def test_the_page_in_chromium(server):
    need_chromium()
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"] if os.geteuid() == 0 else [])
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)  # CSP reports
        page.goto(server)
        page.wait_for_selector("#model option", state="attached")
        assert "at most 2,048 tokens" in page.inner_text("#limits")  # the server's limits, from /api/models
        page.fill("#story", "the cat saw")
        # waits by selector, not wait_for_function: the page's Content-Security-Policy forbids the eval that needs
        page.wait_for_selector("#bars li[data-word]")
        page.wait_for_timeout(600)  # the debounced request for the whole prompt has answered
        top = page.locator("#bars li").first
        word, shown = top.get_attribute("data-word"), float(top.get_attribute("data-probability"))
        expected = post(server + "/api/next", {"text": "the cat saw", "top": 10})["words"][0]
        assert word == expected["word"] and shown == pytest.approx(expected["probability"], rel=1e-6)
        assert f"{100 * expected['probability']:.2f}%" in top.inner_text()
        page.screenshot(path=str(ARTIFACTS / "explorer-next-words.png"))
        top.click()
        assert page.input_value("#story").endswith(word)
        before = page.input_value("#story")
        page.fill("#max_tokens", "20")
        page.click("#continue")
        page.wait_for_selector("#status:text-matches('^done')", timeout=60_000)
        after = page.input_value("#story")
        assert after.startswith(before) and len(after) > len(before)
        page.click("#diagnose")
        page.wait_for_selector("#diagnosis:not([hidden])")
        assert "finding" in page.inner_text("#diagnosis-summary")
        page.click("#gates")
        page.wait_for_selector(".heatmap table")
        assert page.locator(".heatmap td").count() > 0  # a heatmap was drawn, cell by cell
        titles = page.locator(".heatmap h3").all_inner_texts()
        assert titles[0].startswith("LTM") and any("forget gate" in t for t in titles)
        assert any("ignore factor (input gate" in t for t in titles) and any("use gate (output gate" in t for t in titles)
        page.locator(".heatmap th").first.click()
        assert "units that changed most" not in page.inner_text("#word-detail")  # replaced by the word's numbers
        assert "before" in page.inner_text("#word-detail")
        page.screenshot(path=str(ARTIFACTS / "explorer-memory-view.png"), full_page=True)
        browser.close()
    assert errors == []


def test_without_chromium_the_test_says_how_to_get_it_and_fails_in_ci(monkeypatch, tmp_path):
    monkeypatch.setattr(sys.modules[__name__], "CHROMIUM", tmp_path / "no-chromium")
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="apt-get install -y chromium"):
        need_chromium()
    monkeypatch.setenv("CI", "false")
    with pytest.raises(pytest.skip.Exception, match="apt-get install -y chromium"):
        need_chromium()
