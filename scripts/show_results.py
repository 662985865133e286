"""Print the result URLs of the latest run of an example DAG, read from Airflow's metadata DB."""

from __future__ import annotations

import sys

from airflow.models.dagrun import DagRun
from airflow.models.xcom import XComModel
from airflow.utils.session import create_session
from sqlalchemy import select

from airflow_evolink.core.account import format_credits


def main(dag_id: str) -> int:
    with create_session() as session:
        run = session.scalars(
            select(DagRun).where(DagRun.dag_id == dag_id).order_by(DagRun.start_date.desc()).limit(1)
        ).first()
        if run is None:
            print(f"no run of {dag_id} found", file=sys.stderr)
            return 1
        rows = session.execute(
            select(XComModel.task_id, XComModel.key, XComModel.value).where(
                XComModel.dag_id == dag_id, XComModel.run_id == run.run_id
            )
        ).all()
    values = {(task_id, key): value for task_id, key, value in rows}
    print(f"DAG run {run.run_id}: {run.state}")
    print(f"  Evolink task id: {values.get(('submit_video', 'return_value'))}")
    print(f"  credits reserved: {format_credits(values.get(('submit_video', 'credits_reserved')))}")
    print(f"  credits used: {format_credits(values.get(('wait_for_video', 'credits_used')))}")
    urls = values.get(("wait_for_video", "return_value")) or []
    for url in urls:
        print(f"  result video: {url}")
    return 0 if run.state == "success" and urls else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "example_evolink_image_to_video"))
