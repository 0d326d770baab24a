"""The science report: which figures it shows, matplotlib figures, HTML pages, and the
report stage that writes them (`desa.report.build`); ``flows`` only runs it."""
