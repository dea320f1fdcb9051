"""Tests of ``airflow_provider_cased.operators``, one module per module there."""
