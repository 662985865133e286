"""Print the result URLs of the latest run of an example DAG, read from Airflow's metadata DB."""

from __future__ import annotations

import sys

from airflow.models.dagrun import DagRun
from airflow.models.xcom import XComModel
from airflow.utils.session import create_session
from sqlalchemy import select

from airflow_evolink.core.account import format_reported
from airflow_evolink.core.money import credits_to_uc, format_known_credits, format_uc
from airflow_evolink.core.task import charged_credits_of


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
    for line in money_lines(values):
        print(f"  {line}")
    urls = values.get(("wait_for_video", "return_value")) or []
    for url in urls:
        print(f"  result video: {url}")
    return 0 if run.state == "success" and urls else 1


def money_lines(values: dict[tuple[str, str], object]) -> list[str]:
    """The clip's price before paying, what was charged, and whether they agree; each in its unit."""
    estimate = values.get(("submit_video", "evolink_estimate"))
    uc = estimate.get("uc") if isinstance(estimate, dict) else None
    lines = [
        f"estimate: {format_uc(uc)} ({estimate.get('status')})" if isinstance(uc, int) else "estimate: none"
    ]
    task = values.get(("wait_for_video", "evolink_task"))
    charged = charged_credits_of(task) if isinstance(task, dict) else None
    lines.append(f"charged: {format_known_credits(charged)}")
    reserved = values.get(("submit_video", "credits_reserved"))
    lines.append(
        format_reported("credits_reserved", reserved if isinstance(reserved, (int, float)) else None)
    )
    if isinstance(uc, int) and charged is not None:
        agree = credits_to_uc(charged) == uc
        lines.append("estimate and charge agree" if agree else "estimate and charge DIFFER")
    return lines


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "example_evolink_image_to_video"))
