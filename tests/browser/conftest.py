"""A real Chromium for the browser tests: Debian's ``/usr/bin/chromium`` driven by Playwright from PyPI.

Nothing is downloaded at test time (``playwright install`` is never run). Without a browser the tests skip
locally, with the reason, and fail in CI (``CI`` set), where ``.ci/run`` installs Debian's chromium first.
Screenshots go to ``artifacts/browser/`` (git-ignored); the summary line at the end says where.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = Path(os.environ.get("EVOLINK_BROWSER_ARTIFACTS", REPO / "artifacts" / "browser"))
CHROMIUM = Path(os.environ.get("EVOLINK_CHROMIUM", "/usr/bin/chromium"))
#: Longest wait for one element or page; a step that takes longer is a failure, not a slow pass.
UI_TIMEOUT_MS = 30_000

SCREENSHOTS: list[Path] = []
FAILED = pytest.StashKey[bool]()


def _unavailable(reason: str) -> None:
    if os.environ.get("CI", "").lower() not in ("", "0", "false", "no"):
        pytest.fail(f"browser tests cannot run in CI: {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Headless Debian Chromium; autoplay allowed so a muted ``play()`` needs no user gesture.

    Module-scoped: Playwright's sync API keeps an event loop running in this thread while it is open,
    and every later test that calls ``asyncio.run()`` (the triggers, ``dag.test()``) would fail.
    """
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("the playwright package is not installed (pip install -e '.[test]')")
    if not os.access(CHROMIUM, os.X_OK):
        _unavailable(f"no Chromium at {CHROMIUM} (apt-get install -y chromium)")
    from playwright.sync_api import expect

    expect.set_options(timeout=UI_TIMEOUT_MS)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            headless=True,
            args=["--autoplay-policy=no-user-gesture-required"],
        )
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture(scope="session")
def artifacts() -> Path:
    if ARTIFACTS.exists():
        shutil.rmtree(ARTIFACTS)
    ARTIFACTS.mkdir(parents=True)
    return ARTIFACTS


def screenshot(page: Any, artifacts: Path, name: str, **kwargs: Any) -> Path:
    """Save a PNG of the page under the artifacts folder and remember it for the summary."""
    path = artifacts / f"{name}.png"
    page.screenshot(path=str(path), **kwargs)
    SCREENSHOTS.append(path)
    return path


def sign_in(tab: Any, base_url: str, username: str, password: str) -> None:
    """Sign in through Airflow's login page, as a person does (the UI redirects there first)."""
    tab.goto("/")
    tab.wait_for_url(re.compile(r"/auth/login"))
    tab.get_by_label("Username").fill(username)
    tab.get_by_label("Password").fill(password)
    tab.get_by_role("button", name="Sign in").click()
    tab.wait_for_url(f"{base_url}/")


def assert_plays(page: Any, video: Any) -> None:
    """Muted playback starts: the element decodes a frame or its clock moves, and reports no error."""
    from playwright.sync_api import expect

    expect(video).to_be_attached()
    video.evaluate("v => { v.muted = true; return v.play(); }")
    page.wait_for_function(
        "v => v.error !== null || v.currentTime > 0 || v.readyState >= 2", arg=video.element_handle()
    )
    state = video.evaluate(
        "v => ({error: v.error && v.error.message, readyState: v.readyState, currentTime: v.currentTime})"
    )
    assert state["error"] is None, state
    assert state["currentTime"] > 0 or state["readyState"] >= 2, state


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """Mark a failed test body, so a fixture can save what the page showed at that moment."""
    report = yield
    if report.when == "call" and report.failed:
        item.stash[FAILED] = True
    return report


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if SCREENSHOTS:
        terminalreporter.write_line(
            f"Browser screenshots ({len(SCREENSHOTS)}) in {ARTIFACTS}: "
            + ", ".join(path.name for path in SCREENSHOTS)
        )
