"""Lineage of Evolink generations and of the copies the provider stores.

``naming`` turns URLs and storage paths into OpenLineage dataset names and imports nothing optional.
``openlineage`` builds the facets the operators return; it imports the OpenLineage provider only inside
its functions, so the provider works without ``apache-airflow-providers-openlineage`` installed.
``facets`` defines the provider's own run facet and imports the OpenLineage client: import it lazily.
"""
