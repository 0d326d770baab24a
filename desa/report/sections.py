"""Which figures each report section shows, for every model, from an evaluation (paper sec. 6).

The drawing is `desa.report.figures`; this module picks what each section draws, and captions it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from desa.evaluate.comparison import CMD_TARGETS, HR_TARGETS, Evaluation, Inputs
from desa.report import figures as fig

Figure = tuple[str, str, bytes]  # file stem, caption, PNG
Section = tuple[str, list[Figure]]


def _models(evaluation: Evaluation) -> list[str]:
    return evaluation.metrics["models"]


def _mapped(evaluation: Evaluation) -> list[str]:
    """The models with an embedding (and so a map); head-only models have none."""
    return [m for m in _models(evaluation) if evaluation.details[m]["consistency"] is not None]


def _maps(inputs: Inputs, evaluation: Evaluation) -> list[Figure]:
    maps, hr = inputs.maps, inputs.labels["hr"].set_index("kic")
    cmd = inputs.labels["cmd"].set_index("kic")["cmd_class"]
    out = []
    for model in _mapped(evaluation):
        stars = maps[(maps["model"] == model) & (maps["level"] == "star")]
        xy = stars[["x", "y"]].to_numpy()
        classes = stars["kic"].map(cmd).fillna("no class").tolist()
        png = fig.umap_scatter(xy, classes=classes, title=f"{model}: CMD class")
        out.append((f"umap-{model}-class", f"UMAP of {model}, coloured by CMD class", png))
        lum = np.log10(stars["kic"].map(hr["lum"]).to_numpy("f8"))
        png = fig.umap_scatter(xy, values=lum, title=f"{model}: luminosity", value_label="log L")
        out.append((f"umap-{model}-lum", f"UMAP of {model}, coloured by log luminosity", png))
    return out


def _neural_diagrams(evaluation: Evaluation) -> list[Figure]:
    out = []
    for model in _mapped(evaluation):
        for kind, targets, labels in (
            ("cmd", CMD_TARGETS, ("(BP−RP)₀", "M_G,0")),
            ("hr", HR_TARGETS, ("Teff (K)", "log L (L☉)")),
        ):
            fit = evaluation.details[model][f"few_shot_{kind}"]
            truth = fit["truth"] if fit else np.empty((0, 2))
            pred = fit["predictions"] if fit else np.empty((0, 2))
            png = fig.neural_diagram(
                truth,
                pred,
                *labels,
                invert_y=kind == "cmd",
                title=f"{model}: neural {kind.upper()}",
            )
            caption = f"Few-shot neural {kind.upper()} of {model} ({' / '.join(targets)})"
            out.append((f"neural-{kind}-{model}", caption, png))
    return out


def _consistency(evaluation: Evaluation) -> list[Figure]:
    hists = {}
    for model in _mapped(evaluation):
        umap = evaluation.details[model]["consistency"]["umap"]["normalised"]
        if umap["hist_counts"] is not None:
            hists[model] = (np.asarray(umap["hist_counts"]), np.asarray(umap["hist_edges"]))
    png = fig.distance_histograms(
        hists,
        title="Distance between a star's spectra in UMAP space",
        xlabel="distance ÷ median distance of random pairs",
    )
    caption = (
        "UMAP distance between two spectra of one test star, divided by the median distance "
        "between spectra of two random test stars in the same map"
    )
    return [("pair-distances", caption, png)]


def _binaries(evaluation: Evaluation) -> list[Figure]:
    pr, tnr = {}, {}
    out = []
    for model in _models(evaluation):
        binary = evaluation.details[model]["binary"]
        if binary is None or binary["pr"] is None:
            continue
        pr[model] = (binary["pr"]["recall"], binary["pr"]["precision"])
        tnr[model] = (binary["tnr_fnr"]["fnr"], binary["tnr_fnr"]["tnr"])
        png = fig.confusion_matrix_plot(binary["confusion_matrix"], title=f"{model}")
        out.append((f"confusion-{model}", f"Binary-vs-single confusion matrix, {model}", png))
    return [
        ("pr-curves", "Precision–recall of the binary heads (test stars)", fig.pr_curves(pr)),
        ("tnr-fnr", "True-negative against false-negative rate", fig.tnr_fnr_curves(tnr)),
        *out,
    ]


def _ages(evaluation: Evaluation) -> list[Figure]:
    out = []
    for model in _models(evaluation):
        ages: pd.DataFrame = evaluation.details[model]["age_points"]
        png = fig.age_scatter(
            ages["age_gyr"], ages["age_median"], ages["age_lo"], ages["age_hi"], title=model
        )
        out.append((f"ages-{model}", f"Age with calibrated interval, {model} (test stars)", png))
    return out


def _fast_rotators(evaluation: Evaluation) -> list[Figure]:
    out = []
    for model in _mapped(evaluation):
        fast = evaluation.details[model]["fast_rotators"]
        if fast is None:
            continue
        svm = fast["svm"]
        medians = {k: side["delta_k_median"] for k, side in enumerate(fast["sides"])}
        png = fig.fast_rotator_panel(
            fast["points"], fast["labels"], (svm["w"], svm["b"]), medians, title=model
        )
        out.append((f"fast-rotators-{model}", f"Fast rotators on the UMAP of {model}", png))
    return out


def _dualformer_training(history: Sequence[Mapping[str, float]]) -> list[Figure]:
    png = fig.w_diagnostics_curves(history, title="DESA DualFormer: W and the loss terms")
    caption = (
        "DualFormer training per epoch, up to the published (best) epoch: ‖W‖ and the leading "
        "|λ| of W (no collapse to W = 0), and the covariance and dual-projection terms"
    )
    return [("dualformer-w", caption, png)]


def report_figures(
    inputs: Inputs,
    evaluation: Evaluation,
    dualformer_history: Sequence[Mapping[str, float]] = (),
) -> list[Section]:
    """Every figure of the report, by section; ``dualformer_history`` is the DualFormer's
    per-epoch training history (`desa.training.fit.checkpoint_history`)."""
    return [
        ("UMAP maps", _maps(inputs, evaluation)),
        ("Neural CMD and HR diagrams (few-shot)", _neural_diagrams(evaluation)),
        ("Consistency of repeat spectra", _consistency(evaluation)),
        ("Binary detection (fine-tuned heads)", _binaries(evaluation)),
        ("Ages (fine-tuned heads)", _ages(evaluation)),
        ("Fast rotators", _fast_rotators(evaluation)),
        ("DualFormer training", _dualformer_training(dualformer_history)),
    ]
