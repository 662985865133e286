"""Report stored files to Airflow's hook lineage collector, by their final path.

Downloads write under a temporary name and rename it into place; Airflow's ``ObjectStoragePath``
reports every file it writes through ``open()``, so the temporary name would be reported. The download
writes around that tracking and reports the final path here once the rename is done.

The URI is reported without the connection id ObjectStoragePath keeps before the bucket
(``s3://aws_default@bucket/key`` is reported as ``s3://bucket/key``): OpenLineage names the dataset from
it, and a connection id is not part of where the data lives.
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


def asset_uri(path: Any) -> str:
    """The URI of ``path`` without user info (the connection id, or a user and password)."""
    text = str(path)
    scheme, separator, rest = text.partition("://")
    authority, slash, tail = rest.partition("/")
    if not separator or "@" not in authority:
        return text  # unchanged, however the scheme spells an empty host (memory:///, file:///)
    return f"{scheme}://{authority.rpartition('@')[2]}{slash}{tail}"


def report_output(path: Any) -> None:
    """Add ``path`` (an ``ObjectStoragePath``) as an output asset; never fails the caller."""
    try:
        _collector().add_output_asset(context=path, uri=asset_uri(path))
    except Exception:
        log.debug("Could not report %s to the hook lineage collector", path, exc_info=True)
