"""Run test DAGs with ``dag.test()`` in a process whose Airflow sees OpenLineage configured from the start.

Airflow loads its plugins (the OpenLineage listener, the hook lineage reader) once per process, so the
tests run the DAGs here instead of in the pytest process. Usage:
``python -m tests.lineage.run_dags '[["dag_id", {"destination": "..."}], ...]'``; prints one JSON line
per run: ``{"dag_id": ..., "state": ...}``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from tests.airflow_helpers import dag_bag

TEST_DAGS = Path(__file__).resolve().parents[1] / "dags"


def main(argv: list[str]) -> int:
    bag = dag_bag(TEST_DAGS)
    for dag_id, conf in json.loads(argv[0]):
        dag_run = bag.get_dag(dag_id).test(run_conf=conf)
        state = getattr(dag_run.state, "value", dag_run.state)
        print(json.dumps({"dag_id": dag_id, "state": str(state)}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
