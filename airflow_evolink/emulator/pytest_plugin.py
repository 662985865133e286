"""pytest fixtures that give each test a running emulator (registered as a `pytest11` entry point).

Settings per test, without overriding a fixture: any EmulatorConfig field as a marker keyword, e.g.

    @pytest.mark.evolink_emulator(credits=1095.3996, token_credits=300, token_unlimited=False,
                                  interim_share=0.3, result_shape="mixed", extra_fields=1.0)
    def test_client_copes(evolink_emulator): ...

Faults and job overrides go through `evolink_emulator.faults` (e.g. `fail_after_create()`,
`cancel_next_jobs()`, `interim_status()`, `next_jobs_shape()`), credits through
`evolink_emulator.state.set_credits(user=..., token=..., unlimited=...)`, the public pricing-rules routes
through `evolink_emulator.state.set_pricing_routes(404)` (or 500; 200 restores them) or the marker
keyword `pricing_status=404`.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from airflow_evolink.emulator.config import EmulatorConfig
from airflow_evolink.emulator.server import EmulatorServer

MARKER = "evolink_emulator"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", f"{MARKER}(**settings): EmulatorConfig fields for the evolink_emulator fixture"
    )


@pytest.fixture
def evolink_emulator_config(request: pytest.FixtureRequest) -> EmulatorConfig:
    """The config `evolink_emulator` starts with: the marker's settings, or the defaults.

    Override this fixture to change it for a whole module or directory.
    """
    marker = request.node.get_closest_marker(MARKER)
    return EmulatorConfig(**marker.kwargs) if marker is not None else EmulatorConfig()


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
