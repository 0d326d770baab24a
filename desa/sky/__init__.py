"""Synthetic ("demo") sky: survey files written in the real archive formats."""
