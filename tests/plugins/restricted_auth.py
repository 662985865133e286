"""Simple auth manager with one twist for the gallery tests: the user ``outsider`` may not read some DAGs.

Simple auth manager grants by role only, so refusing one DAG to one user needs a subclass; everything
else (tokens, cookies, roles) is Airflow's own.
"""

from __future__ import annotations

from typing import Any

from airflow.api_fastapi.auth.managers.simple.simple_auth_manager import SimpleAuthManager

OUTSIDER = "outsider"
HIDDEN_DAG = "gallery_persist"
#: The review browser test's DAG: the outsider may not answer (or see) its questions either.
REVIEW_DAG = "example_evolink_review_and_publish"
HIDDEN_DAGS = frozenset({HIDDEN_DAG, REVIEW_DAG})


class RestrictedSimpleAuthManager(SimpleAuthManager):
    def is_authorized_dag(
        self, *, method: Any, user: Any, access_entity: Any = None, details: Any = None
    ) -> bool:
        if (
            user.username == OUTSIDER
            and details is not None
            and (details.id is None or details.id in HIDDEN_DAGS)
        ):
            return False
        return super().is_authorized_dag(
            method=method, user=user, access_entity=access_entity, details=details
        )

    def filter_authorized_dag_ids(self, *, dag_ids: set[str], user: Any, **kwargs: Any) -> set[str]:
        allowed = super().filter_authorized_dag_ids(dag_ids=dag_ids, user=user, **kwargs)
        return allowed - HIDDEN_DAGS if user.username == OUTSIDER else allowed
