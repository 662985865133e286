"""The provider's own OpenLineage run facet. Imports the OpenLineage client: import this module lazily.

The facet's JSON schema ships beside it (``EvolinkGenerationRunFacet.json``); its fields follow the
OpenLineage habit of camelCase names.
"""

from __future__ import annotations

import attr
from openlineage.client.facet_v2 import RunFacet

#: Key of the facet in ``run.facets``. Custom facets carry a producer prefix so they cannot collide.
FACET_KEY = "evolink_generation"
#: Key of the ``ErrorMessageRunFacet`` that carries Evolink's own error (code and message) on failure;
#: the listener's ``errorMessage`` facet keeps the Airflow exception.
ERROR_FACET_KEY = "evolink_error"
SCHEMA_URL = (
    "https://pypi.org/project/airflow-provider-evolink/"
    "#lineage/EvolinkGenerationRunFacet.json#/$defs/EvolinkGenerationRunFacet"
)


@attr.define
class EvolinkGenerationRunFacet(RunFacet):
    """One Evolink video generation: what was asked, what it cost, how long it took.

    ``generationTime`` is measured by the provider: from the task's ``created`` time to when the provider
    saw it end, so it includes up to one poll interval.
    """

    model: str | None = attr.field(default=None)
    duration: float | None = attr.field(default=None)
    """Requested video length in seconds (``-1``: the model chooses)."""
    quality: str | None = attr.field(default=None)
    status: str | None = attr.field(default=None)
    """The last status seen: ``pending``, ``processing``, ``completed``, ``failed``..."""
    creditsReserved: float | None = attr.field(default=None)
    creditsUsed: float | None = attr.field(default=None)
    estimatedTime: float | None = attr.field(default=None)
    """Evolink's estimate at submission, in seconds."""
    generationTime: float | None = attr.field(default=None)
    """Seconds from ``created`` until the provider saw the task end."""
    errorCode: str | None = attr.field(default=None)
    """Evolink's business error code of a failed task (e.g. ``content_policy_violation``)."""

    @staticmethod
    def _get_schema() -> str:
        return SCHEMA_URL
