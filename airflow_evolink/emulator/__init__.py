"""An offline emulator of the Evolink video API: no key, no spend, same shapes and rules.

Start it in-process with `EmulatorServer`, from the shell with `python -m airflow_evolink.emulator`,
or in pytest through the `evolink_emulator` fixture.
"""

from __future__ import annotations

from airflow_evolink.emulator.config import EmulatorConfig
from airflow_evolink.emulator.faults import FaultRule
from airflow_evolink.emulator.server import EmulatorServer

__all__ = ["EmulatorConfig", "EmulatorServer", "FaultRule"]
