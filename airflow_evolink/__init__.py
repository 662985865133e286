"""Apache Airflow provider for the Evolink video generation API."""

from __future__ import annotations

__version__ = "0.1.0"
