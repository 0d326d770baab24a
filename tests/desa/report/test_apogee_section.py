"""The report's APOGEE table (paper Table 1 rows) from metrics.json's ``apogee`` key."""

from __future__ import annotations

from desa.report.html import apogee_section, render_report, with_section


def _scores() -> dict:
    values = {"teff_n": 3, "logg_n": 3, "feh_n": 2}
    for source, mae in (("encoder", 1.0), ("lamost", 2.0)):
        values |= {f"{source}_teff_mae": 91.6 * mae, f"{source}_logg_mae": 0.168 * mae}
        values |= {f"{source}_feh_mae": None if source == "lamost" else 0.069}
    bins = [{"snr_low": 0.0, "snr_high": 20.0, "n": 1, **values}]
    bins.append({"snr_low": 20.0, "snr_high": None, "n": 2, **values})
    return {"n": 3, "teff_max_k": 7500.0, "overall": values, "snr_bins": bins}


def test_table_has_both_sources_overall_and_per_snr_bin() -> None:
    html = apogee_section(_scores())
    assert html.startswith('<section id="apogee">') and "Teff &lt; 7500 K" in html
    assert html.count("<tr>") == 1 + 2 * 3  # header + (encoder, LASP) x (all, 2 bins)
    assert "spectra encoder, all S/N" in html and "LAMOST pipeline (LASP), S/N 20–∞" in html
    assert "91.600" in html and "183.200" in html and "0.069" in html
    assert "teff MAE (K)" in html


def test_missing_scores_say_why_and_the_section_lands_in_the_page() -> None:
    html = apogee_section({"note": "no APOGEE DR17 catalog in this data root"})
    assert "no APOGEE DR17 catalog in this data root" in html
    page = with_section(render_report("t", [], [], []), html)
    assert page.index('id="apogee"') < page.index("</main>")
