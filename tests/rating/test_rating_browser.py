"""The rating page in a real headless Chromium: keyboard-only rating, resume, isolation, blinding, a killed server.

Screenshots of each page go to the test's tmp folder (and to $MEDTRANSLATE_RATING_SCREENSHOTS when set, which is how
docs/images/rating/ was made).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
from rating_helpers import MODELS
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import WebDriverWait

from medtranslate.rating.study import open_study

ROOT = Path(__file__).resolve().parents[2]
WAIT_S = 30  # an upper bound for the page to react, not a timing assertion


def _shot(driver, tmp_path: Path, name: str) -> Path:
    path = tmp_path / "screenshots" / f"{name}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(path))
    extra = os.environ.get("MEDTRANSLATE_RATING_SCREENSHOTS")
    if extra:
        Path(extra).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(extra) / path.name)
    return path


def _wait_text(driver, element_id: str, pattern: str) -> str:
    def ready(d):
        text = d.find_element(By.ID, element_id).text
        return text if re.search(pattern, text) else False

    return WebDriverWait(driver, WAIT_S).until(ready)


def _active(driver) -> tuple[str, str]:
    """(id, data-id) of the focused element: what a keyboard user sees highlighted."""
    return tuple(driver.execute_script("const a = document.activeElement; return [a.id || '', a.dataset.id || ''];"))


def _keys(driver, *keys: str) -> None:
    ActionChains(driver).send_keys(*keys).perform()


def _tab_to(driver, element_id: str = "", data_id: str = "", limit: int = 40) -> None:
    for _ in range(limit):
        now = _active(driver)
        if (element_id and now[0] == element_id) or (data_id and now[1] == data_id):
            return
        _keys(driver, Keys.TAB)
    raise AssertionError(f"Tab never reached {element_id or data_id}")


def _model_ids(study, set_index: int) -> dict[str, str]:
    return study.sets[set_index].outputs  # model -> image id (test-side knowledge, never sent to the page)


def _rank_by_keyboard(driver, study, set_index: int, best_first: list[str]) -> None:
    ids = _model_ids(study, set_index)
    for model in reversed(best_first):  # Home moves the focused image to the front: worst first, best last
        _tab_to(driver, data_id=ids[model])
        _keys(driver, Keys.HOME)


def _submit(driver) -> None:
    _tab_to(driver, element_id="submit")
    _keys(driver, Keys.ENTER)


def _open(driver, url: str) -> None:
    driver.get(url)
    WebDriverWait(driver, WAIT_S).until(lambda d: d.find_element(By.ID, "progress").text.strip())


def _ratings(study) -> dict[tuple[str, str, str], tuple[float, str]]:
    return {(r["rater"], r["set"], r["model"]): (r["score"], r["method"]) for r in study.store.all_ratings()}


def test_keyboard_only_rating_of_reference_and_blind_sets(browser, server, study, tmp_path):
    token = study.store.add_rater("alice")
    _open(browser, f"{server.url}/r/{token}/")
    assert _wait_text(browser, "progress", r"Set 1 of 3 · reference set")
    assert browser.find_element(By.ID, "reference-fig").is_displayed()
    _shot(browser, tmp_path, "1_reference_set_rank")

    # set 1 (reference): rank with the keyboard, zoom one image and close the zoom with Escape
    _rank_by_keyboard(browser, study, 0, list(MODELS))
    _tab_to(browser, data_id=_model_ids(study, 0)[MODELS[0]])
    _keys(browser, "z")
    WebDriverWait(browser, WAIT_S).until(lambda d: d.find_element(By.ID, "zoom").is_displayed())
    _keys(browser, "+")
    _shot(browser, tmp_path, "2_zoom")
    _keys(browser, Keys.ESCAPE)
    WebDriverWait(browser, WAIT_S).until(lambda d: not d.find_element(By.ID, "zoom").is_displayed())
    _submit(browser)
    assert _wait_text(browser, "progress", r"Set 2 of 3 · blind set")
    assert not browser.find_element(By.ID, "reference-fig").is_displayed()

    # set 2 (blind): switch to sliders with the arrow keys on the mode radios, set each slider from the keyboard
    _tab_to(browser, element_id="mode-rank")
    _keys(browser, Keys.ARROW_RIGHT)
    assert browser.find_element(By.ID, "mode-slider").is_selected()
    ids = _model_ids(study, 1)
    _submit(browser)  # untouched sliders: refused with a message, nothing saved
    assert _wait_text(browser, "message", r"Set every slider first")
    sliders = {
        s.get_attribute("aria-label"): s
        for s in browser.find_elements(By.CSS_SELECTOR, "#candidates input[type=range]")
    }
    assert len(sliders) == 3
    presses = {MODELS[0]: [Keys.END], MODELS[1]: [Keys.HOME] + [Keys.ARROW_RIGHT] * 49, MODELS[2]: [Keys.HOME]}
    for model in MODELS:
        card = browser.find_element(By.CSS_SELECTOR, f"li[data-id='{ids[model]}']")
        slider = card.find_element(By.CSS_SELECTOR, "input[type=range]")
        for _ in range(40):
            if browser.switch_to.active_element == slider:
                break
            _keys(browser, Keys.TAB)
        _keys(browser, *presses[model])
    _shot(browser, tmp_path, "3_blind_set_sliders")
    _submit(browser)
    assert _wait_text(browser, "progress", r"Set 3 of 3 · blind set")

    # set 3 (blind): back to ranking, reversed order
    _tab_to(browser, element_id="mode-slider")
    _keys(browser, Keys.ARROW_LEFT)
    assert browser.find_element(By.ID, "mode-rank").is_selected()
    _rank_by_keyboard(browser, study, 2, list(reversed(MODELS)))
    _submit(browser)
    assert _wait_text(browser, "done-text", r"All 3 sets are saved")
    _shot(browser, tmp_path, "4_done")

    got = _ratings(study)
    a, b, c = MODELS
    assert got[("alice", "case0", a)] == (100.0, "rank")
    assert got[("alice", "case0", b)] == (50.5, "rank")
    assert got[("alice", "case0", c)] == (1.0, "rank")
    assert got[("alice", "case1", a)] == (100.0, "slider")
    assert got[("alice", "case1", b)] == (50.0, "slider")
    assert got[("alice", "case1", c)] == (1.0, "slider")
    assert got[("alice", "case2", c)] == (100.0, "rank")
    assert got[("alice", "case2", a)] == (1.0, "rank")


def test_drag_and_drop_reorders(browser, server, study):
    token = study.store.add_rater("dora")
    _open(browser, f"{server.url}/r/{token}/")
    before = [e.get_attribute("data-id") for e in browser.find_elements(By.CSS_SELECTOR, "li.card")]
    browser.execute_script(
        """const cards = document.querySelectorAll('li.card');
        const dt = new DataTransfer();
        const fire = (el, type) => el.dispatchEvent(new DragEvent(type, {bubbles: true, dataTransfer: dt}));
        fire(cards[2], 'dragstart'); fire(cards[0], 'dragover'); fire(cards[0], 'drop'); fire(cards[2], 'dragend');"""
    )
    after = [e.get_attribute("data-id") for e in browser.find_elements(By.CSS_SELECTOR, "li.card")]
    assert after == [before[2], before[0], before[1]]


def test_reload_resumes_where_the_rater_stopped(browser, server, study, tmp_path):
    token = study.store.add_rater("bob")
    _open(browser, f"{server.url}/r/{token}/")
    assert _wait_text(browser, "progress", r"Set 1 of 3")
    order = [e.get_attribute("data-id") for e in browser.find_elements(By.CSS_SELECTOR, "li.card")]
    _submit(browser)
    assert _wait_text(browser, "progress", r"Set 2 of 3")
    browser.refresh()
    assert _wait_text(browser, "progress", r"Set 2 of 3 · blind set.* · 1 saved")
    _shot(browser, tmp_path, "5_resumed")
    # going back shows the saved ranking of set 1
    _tab_to(browser, element_id="prev")
    _keys(browser, Keys.ENTER)
    assert _wait_text(browser, "progress", r"Set 1 of 3")
    assert [e.get_attribute("data-id") for e in browser.find_elements(By.CSS_SELECTOR, "li.card")] == order


def test_second_rater_cannot_read_the_first_raters_ratings(browser, server, study):
    first = study.store.add_rater("carol")
    second = study.store.add_rater("dave")
    _open(browser, f"{server.url}/r/{first}/")
    _submit(browser)
    assert _wait_text(browser, "progress", r"Set 2 of 3")
    _open(browser, f"{server.url}/r/{second}/")
    assert _wait_text(browser, "progress", r"Set 1 of 3 · reference set.* · 0 saved")
    with urllib.request.urlopen(f"{server.url}/r/{second}/api/state") as r:
        state = json.loads(r.read())
    assert all(s["saved"] is None for s in state["sets"]) and state["rater"] == "dave"
    assert "carol" not in json.dumps(state)
    # the admin pages do not open with a rater's token
    for url in (f"{server.url}/admin/{first}/results.json", f"{server.url}/admin/{second}/results.md"):
        with pytest.raises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(url)
        assert e.value.code == 404


def test_no_model_name_in_the_page_script_state_or_image_urls(browser, server, study):
    token = study.store.add_rater("erin")
    _open(browser, f"{server.url}/r/{token}/")
    _wait_text(browser, "progress", r"Set 1 of 3")
    texts = [browser.page_source]
    urls = browser.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
    urls += [e.get_attribute("src") for e in browser.find_elements(By.TAG_NAME, "img") if e.get_attribute("src")]
    for url in {*urls, f"{server.url}/r/{token}/", f"{server.url}/r/{token}/api/state"}:
        assert url.startswith(server.url), url
        if url.endswith("/favicon.ico"):  # asked by the browser itself; answered "Not found"
            continue
        with urllib.request.urlopen(url) as r:
            texts.append(url + "\n" + r.read().decode("latin-1"))
    blob = "\n".join(texts).lower()
    assert any("/img/" in u for u in urls)
    for name in MODELS:
        assert name.lower() not in blob
    for s in study.sets:  # nor the set names or the source file names
        assert s.name.lower() not in blob
    assert ".nii" not in blob and "oct.png" not in blob


def test_invalid_or_expired_token_shows_a_plain_not_found(browser, server, study, tmp_path):
    token = study.store.add_rater("frank", valid_days=1e-9)  # expired at once
    for url in (f"{server.url}/r/{token}/", f"{server.url}/r/not-a-token/", f"{server.url}/static/", f"{server.url}/"):
        browser.get(url)
        body = browser.find_element(By.TAG_NAME, "body").text
        assert body.strip() == "Not found"
    _shot(browser, tmp_path, "6_not_found")


def _start_subprocess_server(study_dir: Path) -> tuple[subprocess.Popen, str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "medtranslate", "rate", "serve", "--study", str(study_dir), "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    for line in proc.stdout:
        m = re.search(r" on (http://127\.0\.0\.1:\d+)/", line)
        if m:
            return proc, m.group(1)
    proc.kill()
    raise AssertionError(f"the server did not start (exit {proc.wait()})")


def test_killing_the_server_mid_study_loses_no_submitted_rating(browser, study, tmp_path):
    token = study.store.add_rater("grace")
    proc, url = _start_subprocess_server(study.folder)
    try:
        _open(browser, f"{url}/r/{token}/")
        _submit(browser)
        assert _wait_text(browser, "progress", r"Set 2 of 3")
        _submit(browser)
        assert _wait_text(browser, "progress", r"Set 3 of 3")  # two sets acknowledged by the server
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=WAIT_S)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        proc.stdout.close()
    reopened = open_study(study.folder)
    got = {(r["set"], r["model"]) for r in reopened.store.all_ratings() if r["rater"] == "grace"}
    assert got == {(s, m) for s in ("case0", "case1") for m in MODELS}
    proc2, url2 = _start_subprocess_server(study.folder)  # a new server resumes at set 3
    try:
        _open(browser, f"{url2}/r/{token}/")
        assert _wait_text(browser, "progress", r"Set 3 of 3 · blind set.* · 2 saved")
    finally:
        proc2.kill()
        proc2.wait()
        proc2.stdout.close()
