"""An offline emulator of the Evolink video API: no key, no spend, same shapes and rules.

Start it in-process with `EmulatorServer`, from the shell with `python -m airflow_evolink.emulator`,
or in pytest through the `evolink_emulator` fixture (pytest_plugin.py).

What it reproduces of the real gateway (facts from Evolink's own client, see the module docstrings):
  * idempotency.py - the Idempotency-Key ledger: replay with `idempotency-replayed: true`, 409
    `idempotency_conflict` / `paid_outcome_unknown`, 400 for a malformed key; kept across lost answers.
  * errors.py      - error bodies with string codes (`insufficient_quota`, `key_quota_exhausted`, ...).
  * billing.py     - account balance (`user`) and key limit (`token`, maybe unlimited); failed and
                     cancelled tasks are refunded.
  * jobs.py        - the task timeline (with an optional unlisted interim status) and the body shapes
                     a finished task may take (`results`, `result_data`, `output`, `video_url`;
                     `usage.credits_used` or `usage.cost`; `billing.charge_status`).
  * inputs.py      - a new task's input URLs fetched as Evolink's workers do (loopback hosts only; other
                     hosts are taken as readable); one that cannot be read fails the task.
Switches: EmulatorConfig fields (config.py), `EmulatorServer.faults` (faults.py), `EmulatorServer.state`
(state.py), the /_emulator control API (control.py) and the command line (`--help`).
"""

from __future__ import annotations

from airflow_evolink.emulator.config import EmulatorConfig
from airflow_evolink.emulator.faults import FaultRule
from airflow_evolink.emulator.server import EmulatorServer

__all__ = ["EmulatorConfig", "EmulatorServer", "FaultRule"]
