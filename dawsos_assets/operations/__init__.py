"""Operating the pipeline: the Dagster instance, the web UI, schedules and alerts."""
