"""Rendering of the science report: which figures it shows, matplotlib figures, HTML pages.

The pipeline stage that gathers the numbers lives in ``flows`` and only calls these.
"""
