"""Prefect flows for every stage, the rebuild DAG and the `desa` CLI.

Importing this package changes nothing: the `desa` entry point (flows.entry) applies the
Prefect defaults of flows.env before anything imports prefect.
"""
