"""The Evolink gallery: an Airflow UI plugin (Airflow 3.1+) that shows the videos a provider task made.

Nothing here is imported by the operators, sensors or hooks; only the api-server loads it, through the
``plugins`` entry of the provider info (see :mod:`airflow_evolink.get_provider_info`).
"""
