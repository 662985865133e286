"""``python -m airflow_evolink.estimate``: price a request from the command line, without a DAG."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from airflow_evolink.emulator import EmulatorServer
from airflow_evolink.estimate import main
from airflow_evolink.pricing.cache import clear_pricing_cache

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def server() -> Iterator[EmulatorServer]:
    with EmulatorServer() as running:
        yield running


@pytest.fixture(autouse=True)
def _fresh_cache() -> Iterator[None]:
    clear_pricing_cache()
    yield
    clear_pricing_cache()


def test_the_documented_example_prints_uc_credits_usd_status_and_components(
    server: EmulatorServer, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        [
            "--base-url",
            server.base_url,
            "--model",
            "kling-v3-image-to-video",
            "--duration",
            "5",
            "--quality",
            "720p",
        ]
    )
    out = capsys.readouterr().out
    assert code == 0
    assert "amount: 27 credits (270,000 UC, ~$0.40)" in out
    assert "270000 UC = 27 credits = $0.397059" in out
    assert "status: estimated" in out and "settlement: request_only" in out
    assert "output_seconds: 5 second x 54000 UC (quality = 720p and sound = off" in out


def test_json_body_flags_override_and_json_output(
    server: EmulatorServer, capsys: pytest.CaptureFixture[str]
) -> None:
    body = json.dumps({"model": "kling-v3-text-to-video", "duration": 10, "quality": "720p"})
    code = main(
        [
            "--base-url",
            server.base_url,
            "--json",
            body,
            "--quality",
            "1080p",
            "--sound",
            "on",
            "--format",
            "json",
        ]
    )
    shown = json.loads(capsys.readouterr().out)
    assert code == 0
    assert (shown["uc"], shown["credits"], shown["usd"]) == (1_080_000, "108", "1.588235")
    assert shown["parameters"] == {"duration_seconds": 10, "quality": "1080p", "sound": "on"}


@pytest.mark.parametrize(
    ("args", "code", "words"),
    [
        (["--json", '{"model": "wan3.0-text-to-video", "duration": 5}'], 3, "marks this model partial"),
        # Billed per second, a smart duration prices nothing before the run: no figure, not a 0 lower bound.
        (["--json", '{"model": "wan3.0-text-to-video", "duration": -1}'], 4, "smart duration"),
        (["--model", "no-such-model"], 4, "publishes no pricing rules"),
        (["--model", "kling-v3-image-to-video", "--quality", "8k"], 4, "not a published value"),
    ],
)
def test_partial_and_unavailable_have_their_own_exit_status(
    server: EmulatorServer, capsys: pytest.CaptureFixture[str], args: list[str], code: int, words: str
) -> None:
    assert main(["--base-url", server.base_url, *args]) == code
    assert words in capsys.readouterr().out


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--json", "[1]"], "must be a JSON object"),
        (["--json", "{oops"], "must be a JSON object"),
        (["--duration", "5"], "'model'"),
        (["--model", "kling-v3-image-to-video", "--usage", "seconds"], "NAME=VALUE"),
        (["--base-url", "ftp://x", "--model", "m"], "http(s) base URL"),
    ],
)
def test_bad_input_is_refused_before_any_request(
    server: EmulatorServer, capsys: pytest.CaptureFixture[str], args: list[str], words: str
) -> None:
    before = len(server.state.requests())
    full = args if "--base-url" in args else ["--base-url", server.base_url, *args]
    assert main(full) == 2
    assert words in capsys.readouterr().err
    assert len(server.state.requests()) == before


def test_as_a_module_with_an_airflow_connection_without_a_key(server: EmulatorServer) -> None:
    env = dict(
        os.environ, AIRFLOW_CONN_PRICING_CLI=json.dumps({"conn_type": "evolink", "host": server.base_url})
    )
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "airflow_evolink.estimate",
            "--conn-id",
            "pricing_cli",
            "--model",
            "sora-2-preview",
            "--duration",
            "8",
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "amount: 14 credits (140,000 UC, ~$0.21)" in result.stdout
    assert "7 billed_second x 20000 UC" in result.stdout
