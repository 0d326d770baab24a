"""What each comparison of the report can and cannot show, in words.

The statements follow from how the labels are made (catalogs/labels) and which priors every
model is given (`TrainingConfig.priors`); they are conditioned on that prior set so that
the report never claims more than the inputs allow.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

PRIOR_WORDS = {
    "teff": "Teff",
    "logg": "log g",
    "prot": "the rotation period",
    "feh": "[Fe/H]",
    "rstar": "the radius",
    "ruwe": "Gaia RUWE",
}


def _listed(priors: Sequence[str]) -> str:
    words = [PRIOR_WORDS.get(p, p) for p in priors]
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


def comparison_limits(priors: Sequence[str], models: Sequence[str]) -> list[tuple[str, str]]:
    """(comparison, what it can and cannot show) for the report's reading guide."""
    given = set(priors)
    control = "priors_only" in models
    out = [
        (
            "Every comparison",
            f"Every model gets the same inputs: its own spectra and/or light-curve features "
            f"and the same encoded priors ({_listed(priors)}, with a missing-indicator each). "
            + (
                "The priors_only control is fitted on those priors alone: a model can only "
                "be said to use the spectra or light curves where its interval is above the "
                "control's."
                if control
                else "No priors-only control was run, so no result separates what the "
                "observations add from what the priors give."
            )
            + " An 'ahead' verdict needs the paired bootstrap interval of DESA minus the "
            "model to exclude zero; overlapping intervals mean the data cannot rank them.",
        ),
    ]
    stellar = {"teff", "logg", "feh", "rstar"} & given
    if stellar:
        out.append(
            (
                "Few-shot CMD and HR diagrams, zero-shot CMD classes",
                f"Colour, absolute magnitude, Teff and luminosity follow closely from "
                f"{_listed(sorted(stellar))}, which every model is given. These tasks show "
                "whether an embedding keeps the priors' information in a linearly readable "
                "form; they cannot show that spectra or light curves add to it unless a "
                "model beats priors_only.",
            )
        )
    out.append(
        (
            "Distance between two spectra of one star",
            "Normalised by the distance between random different stars in the same space, "
            "so models compare. It shows invariance to the observing conditions of a "
            "spectrum. lightcurve_only and priors_only see nothing of the spectrum itself "
            "(one light curve per star; catalog priors), so their small distances are there "
            "by construction and say nothing.",
        )
    )
    if "ruwe" in given:
        binary = (
            "The binary labels are partly defined by Gaia RUWE, which is one of the priors, "
            "so a model can score well by reading RUWE back. The '_no_ruwe' rows are the same "
            "models trained and fine-tuned with RUWE left out of their priors: only they show "
            "whether spectra and light curves (composite lines, eclipses, ellipsoidal "
            "variation) reveal binaries."
        )
    else:
        binary = (
            "RUWE is not among the priors, so the binary scores come from the observations "
            "and the remaining priors only."
        )
    out.append(("Binary detection", binary))
    if {"prot", "teff"} <= given:
        out.append(
            (
                "Ages",
                "The age labels come from gyrochronology (rotation period and colour), and "
                "both the rotation period and Teff are priors: priors_only is expected to be "
                "strong, and a model ahead of it would need information beyond them.",
            )
        )
    if "desa_no_priors" in models:
        out.append(
            (
                "desa_no_priors and the ablations",
                "The same DualFormer on the same features without the priors (or with one "
                "component changed): the difference from desa is the effect of the priors "
                "(or of that component), not of the observations.",
            )
        )
    out.append(
        (
            "Spectra encoder against APOGEE",
            "The spectra encoder and LAMOST's own pipeline scored against APOGEE DR17 on the "
            "same test spectra: a check of the encoder only, not of DESA's alignment.",
        )
    )
    return out


def limits_section(limits: Sequence[tuple[str, str]]) -> str:
    """The reading guide as an HTML section."""
    items = "".join(f"<dt>{escape(name)}</dt><dd>{escape(text)}</dd>" for name, text in limits)
    return (
        '<section id="reading"><h2>What each comparison can and cannot show</h2>'
        f"<dl>{items}</dl></section>"
    )
