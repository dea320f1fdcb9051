"""Airflow plugins shipped with the provider (provider info ``plugins``): the case.dev webhook receiver."""
