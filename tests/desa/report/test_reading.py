"""The report's reading guide says what each comparison can show, given the priors."""

from desa.report.reading import comparison_limits, limits_section

PAPER = ("teff", "logg", "prot", "feh", "rstar", "ruwe")
MODELS = ("desa", "moco", "priors_only", "desa_no_priors")


def _text(priors, models=MODELS) -> dict[str, str]:
    return dict(comparison_limits(priors, models))


def test_ruwe_among_the_priors_points_to_the_no_ruwe_rows() -> None:
    assert "_no_ruwe" in _text(PAPER)["Binary detection"]
    assert "_no_ruwe" not in _text(PAPER[:-1])["Binary detection"]


def test_age_caveat_only_when_rotation_and_teff_are_priors() -> None:
    assert "Ages" in _text(PAPER)
    assert "Ages" not in _text(("logg", "feh", "ruwe"))


def test_without_a_control_the_guide_says_nothing_separates_the_inputs() -> None:
    assert "priors_only control is fitted" in _text(PAPER)["Every comparison"]
    assert "No priors-only control" in _text(PAPER, ("desa", "moco"))["Every comparison"]


def test_the_section_escapes_and_lists_every_comparison() -> None:
    limits = comparison_limits(PAPER, MODELS)
    html = limits_section(limits)
    assert html.count("<dt>") == len(limits) and "<script" not in html
