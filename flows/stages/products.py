"""Product stages: UMAP maps, the comparison of DESA and every baseline, the report."""

from __future__ import annotations

import json
import pickle
from typing import Any

import numpy as np
import pandas as pd
from prefect import task
from prefect.artifacts import create_link_artifact, create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from catalogs.apogee import match_apogee, usable_apogee
from desa.evaluate.apogee import apogee_comparison_rows, apogee_scores
from desa.evaluate.comparison import Inputs, comparison_rows, evaluate
from desa.products.embeddings import read_embeddings
from desa.products.neighbors import nearest
from desa.products.umap_maps import UmapSettings, UmapState, check_maps, rows, update_maps
from desa.report.html import (
    apogee_section,
    png_data_uri,
    render_explorer,
    render_report,
    with_section,
)
from desa.report.reading import comparison_limits, limits_section
from desa.report.sections import report_figures
from desa.report.table import comparison_cells, directions, paired_cells
from flows.settings import Settings
from flows.stage import StageContext, StageDef
from storage import layout
from storage.fingerprint import fingerprint_frame, fingerprint_json
from storage.layout import DataRoot
from storage.publish import atomic_write_bytes
from storage.state import StageResult, read_state
from storage.tables import read_parquet, read_parquet_metadata, write_parquet


def _umap_settings(settings: Settings) -> UmapSettings:
    p = settings.products
    return UmapSettings(p.umap_neighbors, p.umap_min_dist, p.umap_fit_max, p.seed)


def _maps_path(root: DataRoot) -> str:
    return root.path("umap.parquet")


def _reducer_path(root: DataRoot, model: str) -> str:
    return root.path("umap", f"{model}.pkl")


def _load_maps(root: DataRoot) -> UmapState | None:
    fs, path = root.fs, _maps_path(root)
    if not fs.exists(path):
        return None
    keys = read_parquet_metadata(fs, path).get("keys", {})
    reducers = {}
    for model in keys:
        if fs.exists(_reducer_path(root, model)):
            with fs.open(_reducer_path(root, model), "rb") as handle:
                reducers[model] = pickle.load(handle)  # our own reducers, from our data root
    return UmapState(read_parquet(fs, path), reducers, keys)


@task(name="umap", cache_policy=NO_CACHE)
def umap_task(ctx: StageContext) -> StageResult:
    root = ctx.root
    url = root.store_url("embeddings.zarr")
    stars, star_values, attrs = read_embeddings(url, "stars")
    pairs, pair_values, _ = read_embeddings(url, "pairs")
    index = rows(stars, pairs)
    models = attrs["models"]  # binary-only models get no map
    values = {m: np.concatenate([star_values[m], pair_values[m]]) for m in models}
    settings = _umap_settings(ctx.settings)
    # A map is kept only for the same model and the same UMAP settings.
    keys = {
        m: fingerprint_json({"model": attrs["model_keys"][m], "umap": vars(settings)})
        for m in models
    }
    train = ((index["level"] == "star") & (index["split"] == "train")).to_numpy()
    previous = None if ctx.force else _load_maps(root)
    state, done = update_maps(previous, index, values, keys, train, settings)
    paths = {}
    for model, reducer in state.reducers.items():
        paths[f"reducer:{model}"] = _reducer_path(root, model)
        atomic_write_bytes(root.fs, paths[f"reducer:{model}"], pickle.dumps(reducer))
    fingerprint = fingerprint_frame(state.coords)
    paths["maps"] = _maps_path(root)
    write_parquet(state.coords, root.fs, paths["maps"], metadata={"keys": state.keys})
    actions = [{"model": m, "action": what} for m, what in done.items()]
    return StageResult({"maps": fingerprint}, paths, dict(done), actions)


UMAP = StageDef(
    name="umap",
    version="1",
    writes=("umap.parquet", "umap/<model>.pkl"),
    reads=(layout.EMBEDDINGS,),
    config=lambda s: vars(_umap_settings(s)),
    body=lambda ctx: umap_task(ctx),
    description="2-D UMAP of every model, fitted on training stars; new stars transformed.",
)


def _json(obj: Any) -> Any:
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating):
        return None if not np.isfinite(obj) else float(obj)
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def evaluation_inputs(ctx: StageContext) -> Inputs:
    root = ctx.root
    url = root.store_url("embeddings.zarr")
    stars, star_values, attrs = read_embeddings(url, "stars")
    pairs, pair_values, _ = read_embeddings(url, "pairs")
    labels = {
        name: read_parquet(root.fs, root.path("labels", f"{name}.parquet"))
        for name in ("cmd", "hr", "fast_rotators", "kinematics")
    }
    encoders = {
        stage: read_state(root.fs, root.state_path(stage)).summary
        for stage in ("train-spectra", "train-lightcurves")
    }
    maps = read_parquet(root.fs, _maps_path(root))
    check_maps(maps, stars, pairs, _maps_path(root))
    return Inputs(
        stars,
        star_values,
        pairs,
        pair_values,
        maps,
        labels,
        read_parquet(root.fs, root.path("finetune", "predictions.parquet")),
        encoders,
        tuple(attrs["models"]),
        tuple(attrs["binary_only"]),
    )


APOGEE_CATALOGS = ("apogee_dr17", "lamost_lrs_stellar")


def _apogee_catalog_inputs(ctx: StageContext) -> dict[str, str]:
    """The APOGEE comparison's catalogs, when this data root has them (optional inputs)."""
    record = read_state(ctx.root.fs, ctx.root.state_path("catalogs"))
    outputs = record.outputs if record else {}
    return {f"catalogs:{n}": outputs[n] for n in APOGEE_CATALOGS if n in outputs}


def apogee_metrics(ctx: StageContext) -> dict[str, Any]:
    """The spectra encoder and LASP against APOGEE DR17 on the test spectra (paper Table 1)."""
    from desa.models.profiles import model_configs
    from desa.models.spectra import SpectraModel
    from desa.training.runs import load_trained, training_device
    from desa.training.spectra_predictions import predict_spectra_labels

    root = ctx.root
    if not all(root.fs.exists(root.of(layout.catalog(name))) for name in APOGEE_CATALOGS):
        return {"note": "no APOGEE DR17 catalog in this data root"}
    apogee = usable_apogee(read_parquet(root.fs, root.of(layout.catalog("apogee_dr17"))))
    lamost = read_parquet(root.fs, root.of(layout.catalog("lamost_lrs_stellar")))
    labels = read_parquet(root.fs, root.path("labels", "spectra_labels.parquet"))
    test = lamost[lamost["obsid"].isin(labels.loc[labels["split"] == "test", "obsid"])]
    matches = match_apogee(test, apogee, ctx.settings.crossmatch.radius_arcsec)
    if matches.empty:
        return {"n": 0, "note": "no test spectrum matches a usable APOGEE star"}
    config = model_configs(ctx.settings.profile).spectra
    checkpoint = root.store_url("models", "train-spectra.ckpt")
    model = load_trained(checkpoint, SpectraModel(config), config)
    device = training_device(ctx.settings.training)
    predictions = predict_spectra_labels(
        model, root.store_url("spectra.zarr"), matches["obsid"].to_numpy(), device=device
    )
    return apogee_scores(apogee_comparison_rows(labels, predictions, matches, apogee))


def dualformer_history(root: DataRoot) -> list[dict[str, float]]:
    """The published DualFormer's per-epoch training history (‖W‖, |λ|, loss terms)."""
    from desa.training.checkpoints import read_checkpoint
    from desa.training.fit import checkpoint_history

    return checkpoint_history(
        read_checkpoint(root.fs, root.path("models", "dualformer", "desa.ckpt"))
    )


@task(name="evaluate", cache_policy=NO_CACHE)
def evaluate_task(ctx: StageContext) -> StageResult:
    root, products = ctx.root, ctx.settings.products
    inputs = evaluation_inputs(ctx)
    result = evaluate(inputs, few_shot_fraction=products.few_shot_fraction, seed=products.seed)
    result.metrics["apogee"] = apogee_metrics(ctx)
    text = json.dumps(result.metrics, indent=2, sort_keys=True, default=_json, allow_nan=False)
    metrics_path = root.path("report", "metrics.json")
    atomic_write_bytes(root.fs, metrics_path, text.encode())
    table = pd.DataFrame(comparison_rows(result.metrics))
    table_path = root.path("report", "comparison.csv")
    atomic_write_bytes(root.fs, table_path, table.to_csv(index=False).encode())
    index = []
    for section, figures in report_figures(inputs, result, dualformer_history(root)):
        for stem, _, png in figures:
            atomic_write_bytes(root.fs, root.path("report", "figures", f"{stem}.png"), png)
        index.append({"section": section, "figures": [[s, c] for s, c, _ in figures]})
    figures_path = root.path("report", "figures.json")
    atomic_write_bytes(root.fs, figures_path, json.dumps(index, indent=1).encode())
    rows = json.loads(table.to_json(orient="records"))  # plain types, NaN as null
    summary = {row["model"]: {k: v for k, v in row.items() if k != "model"} for row in rows}
    return StageResult(
        {"metrics": fingerprint_json(json.loads(text))},
        {"metrics": metrics_path, "comparison": table_path, "figures": figures_path},
        summary,
        rows,
    )


EVALUATE = StageDef(
    name="evaluate",
    version="5",  # the store's models; ridge few-shot, log L, intervals; APOGEE; W history
    writes=("report/metrics.json", "report/comparison.csv", "report/figures/"),
    reads=(
        layout.EMBEDDINGS,
        layout.MAPS,
        layout.PREDICTIONS,
        layout.labels("cmd"),
        layout.labels("hr"),
        layout.labels("fast_rotators"),
        layout.labels("kinematics"),
        layout.SPECTRA_MODEL,
        layout.LIGHTCURVE_MODEL,
        layout.SPECTRA,
        layout.labels("spectra_labels"),
        layout.dualformer("desa"),
    ),
    config=lambda s: {
        "few_shot_fraction": s.products.few_shot_fraction,
        "seed": s.products.seed,
        "apogee_radius_arcsec": s.crossmatch.radius_arcsec,
    },
    body=lambda ctx: evaluate_task(ctx),
    external_inputs=_apogee_catalog_inputs,
    description="Zero-shot, few-shot, consistency, fine-tuned heads and fast rotators, per model.",
)


def explorer_points(ctx: StageContext) -> tuple[list[dict], dict[int, list[int]]]:
    """The DESA map's stars with their labels, and each star's nearest stars in the
    embedding (not in the map)."""
    root, k = ctx.root, ctx.settings.products.neighbors
    stars, values, _ = read_embeddings(root.store_url("embeddings.zarr"), "stars")
    maps = read_parquet(root.fs, _maps_path(root))
    desa = maps[(maps["model"] == "desa") & (maps["level"] == "star")].set_index("kic")
    pairs = read_parquet(root.fs, root.path("labels", "pairs.parquet"))
    labels = pairs.groupby("kic")[["teff", "logg", "prot"]].mean()
    cmd = read_parquet(root.fs, root.path("labels", "cmd.parquet")).set_index("kic")["cmd_class"]
    table = desa[["x", "y"]].join(labels).join(cmd).reset_index()
    table = table.astype(object).where(table.notna(), None)
    indices, _ = nearest(values["desa"], k)
    kics = stars["kic"].to_numpy()
    neighbors = {
        int(kic): [int(n) for n in kics[row]] for kic, row in zip(kics, indices, strict=True)
    }
    return table.to_dict(orient="records"), neighbors


KEY_FIGURES = ("umap-desa-class", "neural-cmd-desa", "pr-curves", "pair-distances")


def _key_figures_artifact(root: DataRoot, report: str, report_url: str | None) -> None:
    """The report's key figures inline in the Prefect UI, with a way to the report: a link
    when the data root's report folder is served over HTTP (`DESA_SERVE__REPORT_URL`), its
    path otherwise."""
    if report_url:
        link = f"{report_url.rstrip('/')}/index.html"
        create_link_artifact(link, link_text="Open the report", key="report-link")
        lines = [f"[Open the full report]({link})", ""]
    else:
        lines = [f"Full report: `{report}`", ""]
    for stem in KEY_FIGURES:
        path = root.path("report", "figures", f"{stem}.png")
        if root.fs.exists(path):
            with root.fs.open(path, "rb") as handle:
                lines.append(f"![{stem}]({png_data_uri(handle.read())})")
    create_markdown_artifact("\n\n".join(lines), key="report-key-figures")


@task(name="report", cache_policy=NO_CACHE)
def report_task(ctx: StageContext) -> StageResult:
    root = ctx.root
    with root.fs.open(root.path("report", "metrics.json")) as handle:
        metrics = json.load(handle)
    with root.fs.open(root.path("report", "figures.json")) as handle:
        index = json.load(handle)
    sections = []
    for entry in index:
        figures = []
        for stem, caption in entry["figures"]:
            with root.fs.open(root.path("report", "figures", f"{stem}.png"), "rb") as handle:
                figures.append((caption, handle.read()))
        sections.append((entry["section"], figures))
    sizes = metrics["sizes"]
    notes = [
        f"{sizes['stars']} stars ({sizes['train_stars']} train, {sizes['val_stars']} val, "
        f"{sizes['test_stars']} test) with {sizes['pairs']} LAMOST–Kepler pairs.",
        "Intervals: {level:.0%} percentile bootstrap, {resamples} resamples (seed {seed}) of the "
        "{unit}; held fixed: {held_fixed}.".format(**metrics["bootstrap"]),
        *(
            f"{model}: {what}: {why}"
            for model in metrics["models"]
            for what, why in metrics[model]["notes"].items()
        ),
    ]
    page = render_report(
        "DESA: comparison with the baselines",
        comparison_cells(metrics),
        sections,
        notes,
        directions(metrics),
        paired=paired_cells(metrics),
        reference=metrics["bootstrap"]["reference"],
    )
    page = with_section(page, apogee_section(metrics.get("apogee")))
    limits = comparison_limits(ctx.settings.training.priors, metrics["models"])
    page = with_section(page, limits_section(limits))
    paths = {
        "report": root.path("report", "index.html"),
        "explorer": root.path("report", "explorer.html"),
    }
    atomic_write_bytes(root.fs, paths["report"], page.encode())
    _key_figures_artifact(root, paths["report"], ctx.settings.serve.report_url)
    points, neighbors = explorer_points(ctx)
    explorer = render_explorer(points, neighbors)
    atomic_write_bytes(root.fs, paths["explorer"], explorer.encode())
    outputs = {
        name: fingerprint_json(text) for name, text in (("report", page), ("explorer", explorer))
    }
    summary = {
        "report": paths["report"],
        "explorer": paths["explorer"],
        "figures": sum(len(f) for _, f in sections),
    }
    return StageResult(outputs, paths, summary, comparison_rows(metrics))


REPORT = StageDef(
    name="report",
    version="5",  # intervals, paired comparison, the store's models, APOGEE, reading guide
    writes=("report/index.html", "report/explorer.html"),
    reads=(
        layout.METRICS,
        layout.MAPS,
        layout.EMBEDDINGS,
        layout.labels("pairs"),
        layout.labels("cmd"),
    ),
    config=lambda s: {"neighbors": s.products.neighbors, "priors": list(s.training.priors)},
    body=lambda ctx: report_task(ctx),
    description="report/index.html (comparison and figures) and report/explorer.html.",
)
