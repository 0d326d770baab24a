"""The `desa bench` benchmarks and the loopback archive they fetch from (plain Python, no prefect).

A top-level package beside `desa/`: it measures the pipeline's packages and is not one of them.
"""
