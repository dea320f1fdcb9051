"""Cased and case.dev agents as tools of common.ai's agents (the ``[ai]`` extra).

Nothing is imported here: DAG files that do not use common.ai never load it.
``airflow_provider_cased.ai.managed_agents`` holds the hooks.
"""
