"""pytest fixtures that give each test a running emulator (registered as a `pytest11` entry point)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from airflow_evolink.emulator.config import EmulatorConfig
from airflow_evolink.emulator.server import EmulatorServer


@pytest.fixture
def evolink_emulator_config() -> EmulatorConfig:
    """Override this fixture to change the config `evolink_emulator` starts with."""
    return EmulatorConfig()


@pytest.fixture
def evolink_emulator(evolink_emulator_config: EmulatorConfig) -> Iterator[EmulatorServer]:
    """A fresh emulator per test, stopped afterwards."""
    with EmulatorServer(evolink_emulator_config) as server:
        yield server


@pytest.fixture(scope="session")
def evolink_emulator_session() -> Iterator[EmulatorServer]:
    """One emulator for the whole session; call `.reset()` between uses if state must not leak."""
    with EmulatorServer(EmulatorConfig()) as server:
        yield server
