"""Fixtures of the rating tests: a small study folder, a server in a thread, a headless Chromium."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from rating_helpers import browser_paths, write_study_spec
from selenium import webdriver
from selenium.webdriver.chrome.service import Service

from medtranslate.rating.server import RatingServer
from medtranslate.rating.study import create_study, load_study_spec


@pytest.fixture(scope="module")
def study_spec(tmp_path_factory) -> Path:
    return write_study_spec(tmp_path_factory.mktemp("rating_images"))


@pytest.fixture()
def study(study_spec, tmp_path):
    return create_study(tmp_path / "study", load_study_spec(study_spec), source=study_spec)


@pytest.fixture()
def server(study):
    srv = RatingServer(study, host="127.0.0.1", port=0, admin_token="admin-secret").start()
    try:
        yield srv
    finally:
        srv.shutdown()


@pytest.fixture(scope="module")
def browser():
    """A headless Chromium driven by Selenium, from Debian's chromium + chromium-driver (no download at run time).

    Missing browser: the tests fail under CI (``CI`` set: `make test` installs it) and are skipped elsewhere.
    """
    paths = browser_paths()
    if paths is None:
        if os.environ.get("CI"):
            pytest.fail("chromium / chromedriver not found: `make test` installs them (apt-get) under CI")
        pytest.skip("chromium and chromium-driver are not installed (apt-get install chromium chromium-driver)")
    options = webdriver.ChromeOptions()
    options.binary_location = paths[0]
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--window-size=1400,1000",
    ):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(executable_path=paths[1]), options=options)
    try:
        yield driver
    finally:
        driver.quit()
