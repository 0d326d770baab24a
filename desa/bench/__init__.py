"""Small, plain-Python benchmarks of DESA components (no prefect)."""
