"""Rendering of the science report: matplotlib figures and self-contained HTML pages.

Plain functions on numpy arrays and lists; the pipeline stage that gathers the numbers lives
in ``flows`` and only calls these.
"""
