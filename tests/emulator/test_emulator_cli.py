"""The command line and the pytest plugin, each run as its own process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from importlib.metadata import entry_points
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parents[2]


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    return env


def test_cli_prints_its_url_serves_and_exits_cleanly_on_sigterm() -> None:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "airflow_evolink.emulator",
            "--port",
            "0",
            "--api-key",
            "sk-cli",
            "--credits",
            "500",
        ],
        cwd=REPO,
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline().strip()
        assert line.startswith("Evolink emulator listening on http://127.0.0.1:")
        base_url = line.rsplit(" ", 1)[1]
        assert not base_url.endswith(":0")

        credits = requests.get(
            f"{base_url}/v1/credits", headers={"Authorization": "Bearer sk-cli"}, timeout=5
        )
        wrong = requests.get(f"{base_url}/v1/credits", headers={"Authorization": "Bearer sk-no"}, timeout=5)

        assert credits.status_code == 200
        assert credits.json()["data"]["token"]["remaining_credits"] == 500
        assert wrong.status_code == 401
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=10)
    assert process.returncode == 0, stderr


def test_cli_rejects_bad_settings() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "airflow_evolink.emulator", "--port", "0", "--fail-rate", "2"],
        cwd=REPO,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=20,
    )
    assert result.returncode == 2 and "fail_rate" in result.stderr


def test_pytest_plugin_fixtures(tmp_path: Path) -> None:
    (tmp_path / "test_uses_fixtures.py").write_text(
        textwrap.dedent(
            """
            import requests

            def test_function_fixture(evolink_emulator):
                r = requests.get(evolink_emulator.base_url + "/v1/credits",
                                 headers={"Authorization": "Bearer k"}, timeout=5)
                assert r.status_code == 200
                assert evolink_emulator.state.stats()["requests"] == 1

            def test_function_fixture_is_fresh(evolink_emulator):
                assert evolink_emulator.state.stats()["requests"] == 0

            def test_session_fixture(evolink_emulator_session):
                evolink_emulator_session.reset()
                assert evolink_emulator_session.base_url.startswith("http://127.0.0.1:")
            """
        )
    )
    plugin = "airflow_evolink.emulator.pytest_plugin"
    installed = any(ep.value == plugin for ep in entry_points(group="pytest11"))
    load = [] if installed else ["-p", plugin]  # loading it twice is an error
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *load, str(tmp_path)],
        cwd=tmp_path,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "3 passed" in result.stdout, result.stdout + result.stderr
