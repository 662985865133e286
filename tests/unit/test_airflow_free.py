"""The tests the oldest Airflow's run leaves out (tests/conftest.py NO_AIRFLOW) really do not touch Airflow."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import NO_AIRFLOW, REPO


def test_the_modules_left_out_on_the_oldest_airflow_import_no_airflow() -> None:
    assert all((REPO / entry).is_file() for entry in NO_AIRFLOW), NO_AIRFLOW
    modules = [entry.removesuffix(".py").replace("/", ".") for entry in NO_AIRFLOW]
    # A fresh interpreter: this one has Airflow loaded by other tests. conftest.py is imported first, as
    # pytest does.
    code = (
        "import importlib, sys\n"
        f"for name in ['tests.conftest', 'tests.emulator.conftest', *{modules!r}]:\n"
        "    importlib.import_module(name)\n"
        "loaded = sorted(m for m in sys.modules if m == 'airflow' or m.startswith('airflow.'))\n"
        "print(loaded[:5])\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip() == "[]", result.stdout
