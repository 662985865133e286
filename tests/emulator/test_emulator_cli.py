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


def _start_cli(*args: str) -> subprocess.Popen[str]:
    """``python -m airflow_evolink.emulator --port 0 ARGS`` as a process with piped output."""
    return subprocess.Popen(
        [sys.executable, "-m", "airflow_evolink.emulator", "--port", "0", *args],
        cwd=REPO,
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_cli_prints_its_url_serves_and_exits_cleanly_on_sigterm() -> None:
    process = _start_cli("--api-key", "sk-cli", "--credits", "500")
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


def test_cli_switches_credits_shapes_interim_and_faults() -> None:
    process = _start_cli(
        *("--job-seconds", "0", "--credits", "9999999.25", "--token-credits", "300000", "--token-limited"),
        *("--result-shape", "output", "--cost-shape", "cost", "--extra-fields", "1"),
        *("--interim-share", "0.5", "--fault", "post-502-after-create", "--pricing-status", "503"),
    )
    try:
        assert process.stdout is not None
        base_url = process.stdout.readline().strip().rsplit(" ", 1)[1]
        auth = {"Authorization": "Bearer sk-cli"}
        credits = requests.get(f"{base_url}/v1/credits", headers=auth, timeout=5).json()["data"]
        assert credits["user"]["remaining_credits"] == 9999999.25
        assert credits["token"] == {
            "remaining_credits": 300000,
            "used_credits": 0,
            "unlimited_credits": False,
        }

        body = {"model": "sora-2"}
        post = dict(auth, **{"Idempotency-Key": "cli-key-0123456789"})
        lost = requests.post(f"{base_url}/v1/videos/generations", json=body, headers=post, timeout=5)
        replay = requests.post(f"{base_url}/v1/videos/generations", json=body, headers=post, timeout=5)
        assert lost.status_code == 502 and replay.headers["idempotency-replayed"] == "true"
        task = requests.get(f"{base_url}/v1/tasks/{replay.json()['id']}", headers=auth, timeout=5).json()
        assert task["output"]["video_url"].endswith(".mp4") and "cost" in task["usage"]
        assert "draft_expires_at" in task
        rules = requests.get(f"{base_url}/v1/catalog/models/kling-v3-image-to-video/pricing-rules", timeout=5)
        assert rules.status_code == 503
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
    for bad, words in (
        (["--fault", "explode"], "preset"),
        (["--fault", "{not json"], "--fault"),
        (["--interim-share", "0.95"], "interim_share"),
        (["--pricing-status", "302"], "pricing_status"),
    ):
        result = subprocess.run(
            [sys.executable, "-m", "airflow_evolink.emulator", "--port", "0", *bad],
            cwd=REPO,
            env=_env(),
            capture_output=True,
            text=True,
            timeout=20,
        )
        assert result.returncode == 2 and words in result.stderr, (bad, result.stderr)


def test_pytest_plugin_fixtures(tmp_path: Path) -> None:
    (tmp_path / "test_uses_fixtures.py").write_text(
        textwrap.dedent(
            """
            import pytest
            import requests

            def test_function_fixture(evolink_emulator):
                r = requests.get(evolink_emulator.base_url + "/v1/credits",
                                 headers={"Authorization": "Bearer k"}, timeout=5)
                assert r.status_code == 200
                assert evolink_emulator.state.stats()["requests"] == 1

            def test_function_fixture_is_fresh(evolink_emulator):
                assert evolink_emulator.state.stats()["requests"] == 0

            @pytest.mark.evolink_emulator(credits=500, token_unlimited=False, result_shape="video_url")
            def test_marker_sets_the_config(evolink_emulator):
                assert evolink_emulator.config.credits == 500
                assert evolink_emulator.config.token_unlimited is False
                assert evolink_emulator.config.result_shape == "video_url"

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
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "--strict-markers",
            *load,
            str(tmp_path),
        ],
        cwd=tmp_path,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "4 passed" in result.stdout, result.stdout + result.stderr
