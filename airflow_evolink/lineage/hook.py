"""Report stored files to Airflow's hook lineage collector, by their final path.

Downloads write under a temporary name and rename it into place; Airflow's ``ObjectStoragePath``
reports every file it writes through ``open()``, so the temporary name would be reported. The download
writes around that tracking and reports the final path here once the rename is done.
"""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger(__name__)


def _collector() -> Any:
    try:
        from airflow.sdk.lineage import get_hook_lineage_collector
    except ImportError:  # Airflow 3.0 keeps the collector in core
        from airflow.lineage.hook import get_hook_lineage_collector  # type: ignore[no-redef]
    return get_hook_lineage_collector()


def report_output(path: Any) -> None:
    """Add ``path`` (an ``ObjectStoragePath``) as an output asset; never fails the caller."""
    try:
        _collector().add_output_asset(context=path, uri=str(path))
    except Exception:
        log.debug("Could not report %s to the hook lineage collector", path, exc_info=True)
