"""desa package."""
