"""Prefect flows for every stage, the rebuild DAG and the `desa` CLI."""

from flows.env import apply_prefect_defaults

apply_prefect_defaults()
