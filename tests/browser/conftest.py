"""Browser tests: a real JupyterLab (subprocess) in headless Debian Chromium, driven by Playwright.

One local Loom server (the session's `loom_server`), one JupyterLab and one Chromium serve the
whole package; each test gets a fresh page, and its kernels are shut down when it ends. On
failure the page's screenshot, its console, the Lab log and the Loom log are saved in tests/browser/screenshots/.

Without /usr/bin/chromium the tests are skipped with a loud message, unless $CI is set: then
they fail, so a CI machine can never pass without having run them.
"""
from __future__ import annotations

import os
import re
import shutil
from collections.abc import Generator, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import sync_playwright

from ._harness import CHROMIUM, CHROMIUM_ARGS, JupyterLab, Lab

ARTIFACTS = Path(__file__).parent / "screenshots"
PAGE_TIMEOUT_MS = 20_000
_MISSING = (f"BROWSER TESTS SKIPPED: {CHROMIUM} is missing, so the widgets were NOT tested in a "
            "real JupyterLab. Install it (apt-get install chromium) or set CI=1 to make this "
            "an error.")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "browser: drives a real JupyterLab in headless Chromium (tests/browser)")


def _chromium_missing() -> bool:
    return not (CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not _chromium_missing() or os.environ.get("CI"):
        return
    for item in items:
        if item.get_closest_marker("browser"):
            item.add_marker(pytest.mark.skip(reason=_MISSING))


def pytest_terminal_summary(terminalreporter: Any) -> None:
    skipped = terminalreporter.stats.get("skipped", [])
    if any(_MISSING in str(getattr(r, "longrepr", "")) for r in skipped):
        terminalreporter.write_sep("!", _MISSING, red=True, bold=True)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: Any) -> Generator[None, Any, None]:
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)


@pytest.fixture(scope="package")
def chromium() -> Path:
    if _chromium_missing():  # only reachable with $CI set (else the tests were skipped)
        pytest.fail(f"{CHROMIUM} is missing and CI is set: the browser tests must run here.")
    return CHROMIUM


@pytest.fixture(scope="package")
def jupyter_lab(loom_server: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[JupyterLab]:
    """`jupyter lab` whose server extension proxies to the local Loom with a user-role key."""
    lab = JupyterLab(tmp_path_factory.mktemp("jupyterlab"), loom_server.url,
                     loom_server.make_key("user", name="browser-tests"))
    lab.start()
    try:
        yield lab
    finally:
        lab.stop()


@pytest.fixture(scope="package")
def browser_context(chromium: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """Headless Chromium with a fresh profile; only loopback is ever contacted."""
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")), executable_path=str(chromium),
            headless=True, args=CHROMIUM_ARGS, viewport={"width": 1400, "height": 1000},
            timeout=30_000)
        try:
            yield context
        finally:
            context.close()


@contextmanager
def page_on(request: pytest.FixtureRequest, jupyter: JupyterLab, browser_context: Any,
            loom_server: Any) -> Iterator[Lab]:
    """A fresh page on a Lab; screenshots and logs are kept when the test fails."""
    page = browser_context.new_page()
    page.set_default_timeout(PAGE_TIMEOUT_MS)
    wrapped = Lab(page, jupyter)
    try:
        yield wrapped
    finally:
        if _failed(request.node):
            _save_artifacts(request.node.name, wrapped, loom_server.log_text())
        page.close()


@pytest.fixture
def lab(request: pytest.FixtureRequest, jupyter_lab: JupyterLab, browser_context: Any,
        loom_server: Any) -> Iterator[Lab]:
    """A fresh page on the session's Lab (its kernels shut down afterwards)."""
    with page_on(request, jupyter_lab, browser_context, loom_server) as wrapped:
        yield wrapped
    jupyter_lab.shutdown_kernels()


def _failed(item: pytest.Item) -> bool:
    return any(getattr(getattr(item, f"rep_{when}", None), "failed", False)
               for when in ("setup", "call"))


def _save_artifacts(name: str, lab: Lab, loom_log: str) -> None:
    stem = ARTIFACTS / re.sub(r"[^\w.-]+", "_", name)
    ARTIFACTS.mkdir(exist_ok=True)
    try:
        lab.page.screenshot(path=f"{stem}.png", full_page=True, timeout=10_000)
    except PlaywrightError as exc:  # a crashed page still leaves the logs below
        Path(f"{stem}.screenshot-error.txt").write_text(repr(exc))
    Path(f"{stem}.console.txt").write_text("\n".join(lab.console) + "\n")
    Path(f"{stem}.jupyterlab.log").write_text(lab.lab.log_text())
    Path(f"{stem}.loom.log").write_text(loom_log)
    print(f"\nbrowser test artifacts: {stem}.png, .console.txt, .jupyterlab.log, .loom.log")


@pytest.fixture(scope="package", autouse=True)
def _fresh_artifacts() -> None:
    """Artifacts describe the last run only."""
    shutil.rmtree(ARTIFACTS, ignore_errors=True)
