"""Preprocessing of survey files into model-ready arrays (spectra, light curves)."""
