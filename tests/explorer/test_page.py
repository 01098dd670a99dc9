"""The explorer in a real browser: `textgen serve` on a free loopback port with a tiny model, and
Debian's chromium driven by Python playwright (no browser download: `.ci/run` installs
chromium with apt). Type a prompt, see the bars and check the top word against /api/next, click
it, continue the story (streamed), diagnose it (the marks and their legend, the hover text) and
open the memory view (its hint, colour legends and numbered units); editing the story clears both
panels, a fixed error goes away, and the page fits a 420 px window."""

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


STORY = ("Hopper saw Hopper. The the frog ran to the pond. She ran and ran and ran and ran and ran. "
         "Pippa fell down and hurt her knee. Pippa fell down and hurt her knee.")  # one finding of each kind
KINDS = ["self-object", "immediate-repeat", "phrase-loop", "repeated-sentence"]


@pytest.fixture(scope="module")
def browser(server):
    """One chromium for the module's tests; each test opens its own page."""
    need_chromium()
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"] if os.geteuid() == 0 else [])
        yield browser
        browser.close()


class Page:
    """A page of the explorer at one window width. On leaving, the page must have logged no error of
    its own (a script error, a CSP report); `refused` allows chromium's line for each answer the
    server refused (4xx), which a test of the page's error messages provokes."""

    def __init__(self, browser, server: str, width: int = 1280, refused: bool = False):
        self.page = browser.new_page(viewport={"width": width, "height": 900})
        self.errors: list[str] = []
        self.refused = refused
        self.page.on("pageerror", lambda error: self.errors.append(str(error)))
        self.page.on("console", lambda message: self.errors.append(message.text) if message.type == "error" else None)
        self.page.goto(server)
        self.page.wait_for_selector("#model option", state="attached")

    def __enter__(self):
        return self.page

    def __exit__(self, kind, *exc) -> None:
        self.page.close()
        if kind is None:
            refusal = re.compile(r"Failed to load resource: the server responded with a status of 4\d\d")
            assert [e for e in self.errors if not (self.refused and refusal.match(e))] == []


def titles(page) -> list[str]:
    """Every hover text on the page."""
    return page.locator("[title]").evaluate_all("nodes => nodes.map(node => node.title)")


def diagnose(page, text: str) -> None:
    page.fill("#story", text)
    page.click("#diagnose")
    page.wait_for_selector("#diagnosis-results:not([hidden]) #diagnosed .finding")


def memory_view(page) -> None:
    page.click("#gates")
    page.wait_for_selector("#memory-results:not([hidden]) .heatmap table")


@pytest.mark.slow
def test_the_page_in_chromium(browser, server):
    with Page(browser, server) as page:
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

        # the marks: one of each kind, each kind in the legend with its colour, its meaning and its count
        diagnose(page, STORY)
        marks = page.locator("#diagnosed .finding")
        assert [marks.nth(i).get_attribute("data-kind") for i in range(marks.count())] == KINDS
        legend = page.locator("#diagnosis-legend li")
        assert [legend.nth(i).get_attribute("data-kind") for i in range(legend.count())] == KINDS
        for index, kind in enumerate(KINDS):
            swatch = legend.nth(index).locator(".swatch")
            assert swatch.inner_text() == ["self-object", "immediate repeat", "phrase loop", "repeated sentence"][index]
            # the swatch is drawn like the mark: the same underline and background
            assert swatch.evaluate("node => getComputedStyle(node).borderBottomColor") == \
                marks.nth(index).evaluate("node => getComputedStyle(node).borderBottomColor")
            assert swatch.evaluate("node => getComputedStyle(node).backgroundColor") == \
                marks.nth(index).evaluate("node => getComputedStyle(node).backgroundColor")
            assert legend.nth(index).locator(".count").inner_text() == "(1 here)"
        assert "“the the”" in legend.nth(1).inner_text() and "word for word" in legend.nth(3).inner_text()
        hover = marks.nth(0).get_attribute("title")
        assert "rank 2 among its next words" in hover and "verdict: both: a likely-enough word" in hover  # the tiny model's view
        marks.nth(0).click()  # a touch screen has no hover: a click shows the same text
        assert page.inner_text("#finding-detail") == hover
        assert all("null" not in t and "undefined" not in t for t in titles(page))
        # the story metrics, each beside what one human story of the model's training corpus measures
        rows = page.locator("#story-metrics tr")
        assert rows.nth(0).inner_text().split("\t")[1:] == ["this text", "one human story (mean)"]
        cells = [rows.nth(i).locator("td").all_inner_texts() for i in range(1, rows.count())]
        assert [row[0] for row in cells][:2] == ["invented words per 1,000", "names"]
        assert all(len(row) == 3 and row[1] != "–" and row[2] != "–" for row in cells), cells
        assert dict((row[0], row[1]) for row in cells)["doubled words per 1,000"] != "0.00"  # "the the" is in STORY
        assert "training stories" in page.inner_text("#story-metrics-source")

        # the memory view: the hint, then the colour legends, then the heatmaps, whose columns are numbered units
        memory_view(page)
        hint, legends, heatmaps = (page.locator(selector).bounding_box() for selector in ("#memory-hint", "#memory-legends", "#heatmaps"))
        assert hint["y"] < legends["y"] < heatmaps["y"]
        assert page.inner_text("#memory-hint").startswith("Click a word (a row)")
        scales = page.locator("#memory-legends .scale")
        assert scales.count() == 2 and scales.nth(0).locator(".strip span").count() == 11
        assert "LTM" in scales.nth(0).inner_text() and "blue negative, white 0, red positive" in scales.nth(0).inner_text()
        ends = scales.nth(0).locator(".end").all_inner_texts()
        assert ends[0].startswith("−") and ends[1].startswith("+") and ends[0][1:] == ends[1][1:]  # a scale symmetric about 0
        assert scales.nth(1).locator(".end").all_inner_texts() == ["0 shut", "1 open"]
        gates = post(server + "/api/gates", {"text": STORY, "layer": 1})
        units = [str(unit) for unit in gates["heatmaps"]["units"]]
        heatmap_count = page.locator(".heatmap").count()
        assert heatmap_count == 1 + len(gates["gate_names"])
        for index in range(heatmap_count):
            table = page.locator(".heatmap").nth(index)
            assert table.locator("thead th.unit").all_inner_texts() == units
            assert table.locator("thead th.corner").inner_text() == "word ↓ unit →"
            assert table.locator("tbody tr").count() == len(gates["heatmaps"]["words"])
        assert page.locator(".heatmap td").count() > 0  # a heatmap was drawn, cell by cell
        heading = page.locator(".heatmap h3").all_inner_texts()
        assert heading[0].startswith("LTM") and any("forget gate" in t for t in heading)
        assert any("ignore factor (input gate" in t for t in heading) and any("use gate (output gate" in t for t in heading)
        page.locator(".heatmap tbody th").first.click()
        assert "before" in page.inner_text("#word-detail") and "Hopper" in page.inner_text("#word-detail")
        assert page.inner_text("#memory-hint").startswith("Click a word (a row)")  # the hint stays above
        assert all("null" not in t and "undefined" not in t for t in titles(page))
        page.screenshot(path=str(ARTIFACTS / "explorer-memory-view.png"), full_page=True)


@pytest.mark.slow
def test_a_rank_the_model_did_not_list_is_said_in_words(browser, server):
    """The attribution's rank is null when the word is below every word the model listed: the hover
    says so instead of "rank null"."""

    def without_ranks(route):
        response = route.fetch()
        data = response.json()
        for finding in data["findings"]:
            finding["attribution"]["rank"] = None
        route.fulfill(response=response, json=data)

    with Page(browser, server) as page:
        page.route("**/api/diagnose", without_ranks)
        diagnose(page, STORY)
        hovers = page.locator("#diagnosed .finding").evaluate_all("nodes => nodes.map(node => node.title)")
        assert len(hovers) == 4
        ranked = post(server + "/api/diagnose", {"text": STORY})["findings"][0]["attribution"]["ranked_words"]
        for hover in hovers:
            assert f"(not among its {ranked:,} likeliest next words)" in hover
        assert all("null" not in t and "rank" not in t.replace("ranked", "") for t in hovers)


@pytest.mark.slow
def test_editing_the_story_clears_the_diagnosis_and_the_memory_view(browser, server):
    with Page(browser, server) as page:
        for edit in ("type", "take a word", "continue"):
            diagnose(page, STORY)
            memory_view(page)
            page.locator(".heatmap tbody th").first.click()
            if edit == "type":
                page.locator("#story").press("End")
                page.keyboard.type(" The")
            elif edit == "take a word":
                page.wait_for_selector("#bars li[data-word]")
                page.locator("#bars li").first.click()
            else:
                page.fill("#max_tokens", "3")
                page.click("#continue")
                page.wait_for_selector("#status:text-matches('^done')", timeout=60_000)
            assert page.locator("#diagnosed .finding").count() == 0, edit
            assert page.is_hidden("#diagnosis-results") and page.is_hidden("#memory-results"), edit
            assert page.locator(".heatmap").count() == 0 and page.inner_text("#word-detail") == "", edit
            assert "has changed since this diagnosis" in page.inner_text("#diagnosis-summary"), edit
            assert "has changed since this memory view" in page.inner_text("#memory-summary"), edit
        # a diagnosis that answers after the story has changed is not shown over the new story
        held = []
        page.route("**/api/diagnose", lambda route: held.append(route))
        page.fill("#story", STORY)
        page.click("#diagnose")
        page.wait_for_selector("#status:text-is('diagnosing…')")
        page.locator("#story").press("End")
        page.keyboard.type(" The")
        assert len(held) == 1
        held[0].fulfill(response=held[0].fetch())
        page.wait_for_selector("#status:text-is('')", state="attached")
        assert page.locator("#diagnosed .finding").count() == 0 and page.is_hidden("#diagnosis-results")
        # and the panels come back with a new run
        page.unroute("**/api/diagnose")
        diagnose(page, STORY)
        memory_view(page)
        assert page.locator("#diagnosed .finding").count() == 4 and page.locator(".heatmap").count() > 0


@pytest.mark.slow
def test_an_error_goes_away_once_its_input_is_fixed(browser, server):
    with Page(browser, server, refused=True) as page:
        page.fill("#story", "Zorblax saw")  # a word the tiny word-tokenizer model does not know
        page.wait_for_selector("#error:not([hidden])")
        assert "does not know: 'Zorblax'" in page.inner_text("#error")
        page.fill("#story", "the cat saw")
        page.wait_for_selector("#error", state="hidden")
        assert page.inner_text("#error") == "" and page.locator("#bars li").count() > 0
        # a setting out of range, then fixed and run again
        page.fill("#temperature", "-1")
        page.click("#continue")
        page.wait_for_selector("#error:not([hidden])")
        assert "temperature" in page.inner_text("#error")
        page.fill("#temperature", "1")
        page.fill("#max_tokens", "3")
        page.click("#continue")
        page.wait_for_selector("#status:text-matches('^done')", timeout=60_000)
        assert page.is_hidden("#error")
        # the memory view of a text it cannot read, then of one it can
        page.fill("#story", "Zorblax saw")
        page.click("#gates")
        page.wait_for_selector("#error:text-matches('^the text has words')")
        page.fill("#story", "the cat saw")
        memory_view(page)
        assert page.is_hidden("#error") and page.inner_text("#status") == ""


@pytest.mark.slow
def test_the_page_fits_a_narrow_window(browser, server):
    """At 420 px the panels stack and nothing scrolls the page sideways: a wide heatmap scrolls inside its panel."""

    def wide(route):  # the tiny model has 16 units: show 48, as the shipped model's memory view does
        response = route.fetch()
        data = response.json()
        maps = data["heatmaps"]
        maps["units"] = [unit + 16 * copy for copy in range(3) for unit in maps["units"]]
        maps["memory"] = [row * 3 for row in maps["memory"]]
        maps["gates"] = {name: [row * 3 for row in rows] for name, rows in maps["gates"].items()}
        route.fulfill(response=response, json=data)

    with Page(browser, server, width=420) as page:
        page.route("**/api/gates", wide)
        diagnose(page, STORY)
        memory_view(page)
        page.locator(".heatmap tbody th").first.click()
        page.wait_for_timeout(300)  # the next words for the story
        assert page.evaluate("document.documentElement.scrollWidth") <= 420
        assert page.evaluate("document.body.scrollWidth") <= 420
        boxes = [page.locator(selector).bounding_box() for selector in ("#write", "#next", "#diagnosis", "#memory")]
        for upper, lower in zip(boxes, boxes[1:]):
            assert upper["y"] + upper["height"] <= lower["y"]  # one under the other
        for box in boxes:
            assert box["x"] >= 0 and box["x"] + box["width"] <= 420
        heatmap = page.locator(".heatmap").first
        assert heatmap.locator("thead th.unit").count() == 48
        assert heatmap.evaluate("node => node.scrollWidth > node.clientWidth")  # the heatmap scrolls inside its panel
        page.screenshot(path=str(ARTIFACTS / "explorer-narrow.png"), full_page=True)


def test_without_chromium_the_test_says_how_to_get_it_and_fails_in_ci(monkeypatch, tmp_path):
    monkeypatch.setattr(sys.modules[__name__], "CHROMIUM", tmp_path / "no-chromium")
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="apt-get install -y chromium"):
        need_chromium()
    monkeypatch.setenv("CI", "false")
    with pytest.raises(pytest.skip.Exception, match="apt-get install -y chromium"):
        need_chromium()
