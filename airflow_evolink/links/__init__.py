"""Extra links in the Airflow UI (the gallery's task and video pages), shared by operators and sensors."""
