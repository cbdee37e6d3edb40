"""The demo's rating study (two tiny OCT2Confocal variants): created without a server, then served, rated in
Chromium with the keyboard, and summarised."""

from __future__ import annotations

import re
import threading

import pytest
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import WebDriverWait

from medtranslate.cli.demo import run_demo
from medtranslate.rating.results import compute_results
from medtranslate.rating.server import RatingServer
from medtranslate.rating.study import open_study


@pytest.mark.slow  # trains the tiny model twice (the quick budget, then a quarter): ~20 s on a shared machine
def test_demo_rating_study_can_be_served_rated_and_summarised(tmp_path, browser):
    lines: list[str] = []
    steps = ["samples", "oct2confocal_train", "oct2confocal_translate", "rating_study"]
    ctx, _ = run_demo(tmp_path / "demo", quick=True, steps=steps, echo=lines.append)
    assert ctx.failed == 0
    folder = tmp_path / "demo" / "rating" / "study"
    printed = "\n".join(lines)
    assert f"medtranslate rate serve --study {folder}" in printed
    assert f"medtranslate rate invite --study {folder} --rater" in printed
    assert not any(t.name == "medtranslate-rate" for t in threading.enumerate())  # the demo started no server
    study = open_study(folder)
    early, final = study.models  # the quick demo's epoch counts follow its iteration budget
    assert early.startswith("early_epoch") and final.startswith("final_epoch"), study.models
    assert int(early.removeprefix("early_epoch")) < int(final.removeprefix("final_epoch")), study.models
    assert [s.kind for s in study.sets] == ["reference", "blind"]

    token = study.store.add_rater("demo rater")
    with RatingServer(study, port=0) as srv:
        browser.get(f"{srv.url}/r/{token}/")
        for k in range(len(study.sets)):
            WebDriverWait(browser, 30).until(
                lambda d, k=k: re.search(rf"Set {k + 1} of 2", d.find_element(By.ID, "progress").text)
            )
            browser.save_screenshot(str(tmp_path / f"demo_set_{k + 1}.png"))
            ActionChains(browser).send_keys(Keys.END).perform()  # the focused first image becomes the worst
            for _ in range(30):
                if browser.switch_to.active_element.get_attribute("id") == "submit":
                    break
                ActionChains(browser).send_keys(Keys.TAB).perform()
            ActionChains(browser).send_keys(Keys.ENTER).perform()
        WebDriverWait(browser, 30).until(lambda d: "All 2 sets are saved" in d.find_element(By.ID, "done-text").text)
    res = compute_results(study)
    assert res["raters"][0]["sets_done"] == 2
    assert {res["mos"][m]["total"]["mean"] for m in study.models} <= {1.0, 50.5, 100.0}
    assert sum(res["mos"][m]["total"]["mean"] for m in study.models) == pytest.approx(101.0)
