"""Simple auth manager for the review browser test: the user ``outsider`` may not touch the review DAG.

Simple auth manager grants by role only, so refusing one DAG to one user needs a subclass; tokens, cookies,
roles and the human-in-the-loop checks stay Airflow's own.
"""

from __future__ import annotations

from typing import Any

from airflow.api_fastapi.auth.managers.simple.simple_auth_manager import SimpleAuthManager

OUTSIDER = "outsider"
REVIEW_DAG = "example_evolink_review_and_publish"


class ReviewTestAuthManager(SimpleAuthManager):
    def is_authorized_dag(
        self, *, method: Any, user: Any, access_entity: Any = None, details: Any = None
    ) -> bool:
        if user.username == OUTSIDER and details is not None and details.id in (REVIEW_DAG, None):
            return False
        return super().is_authorized_dag(
            method=method, user=user, access_entity=access_entity, details=details
        )

    def filter_authorized_dag_ids(self, *, dag_ids: set[str], user: Any, **kwargs: Any) -> set[str]:
        allowed = super().filter_authorized_dag_ids(dag_ids=dag_ids, user=user, **kwargs)
        return allowed - {REVIEW_DAG} if user.username == OUTSIDER else allowed
