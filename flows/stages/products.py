"""Product stages: UMAP maps, the comparison of DESA and every baseline, the report."""

from __future__ import annotations

from desa.products.umap_settings import UmapSettings
from desa.report.html import png_data_uri
from flows.settings import Settings
from flows.stage import StageContext, StageDef
from flows.stages.lazy_task import LazyTask
from storage import layout
from storage.layout import DataRoot
from storage.state import StageResult, read_state


def _umap_settings(settings: Settings) -> UmapSettings:
    p = settings.products
    return UmapSettings(p.umap_neighbors, p.umap_min_dist, p.umap_fit_max, p.seed)


umap_task = LazyTask("desa.products.umap_maps:write_maps", name="umap")

UMAP = StageDef(
    name="umap",
    version="1",
    writes=(layout.MAPS.relpath, layout.reducer("<model>")),
    reads=(layout.EMBEDDINGS,),
    config=lambda s: vars(_umap_settings(s)),
    body=lambda ctx: umap_task(ctx.root, _umap_settings(ctx.settings), ctx.force),
    description="2-D UMAP of every model, fitted on training stars; new stars transformed.",
)


def _apogee_catalog_inputs(ctx: StageContext) -> dict[str, str]:
    """The APOGEE comparison's catalogs, when this data root has them (optional inputs)."""
    record = read_state(ctx.root.fs, ctx.root.state_path(layout.APOGEE.stage))
    outputs = record.outputs if record else {}
    return {c.key: outputs[c.output] for c in layout.APOGEE_INPUTS if c.output in outputs}


evaluate_task = LazyTask("desa.evaluate.run:write_evaluation", name="evaluate")

EVALUATE = StageDef(
    name="evaluate",
    version="5",  # the store's models; ridge few-shot, log L, intervals; APOGEE; W history
    writes=(layout.METRICS.relpath, layout.COMPARISON_TABLE, layout.figure("*")),
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
    body=lambda ctx: evaluate_task(
        ctx.root,
        few_shot_fraction=ctx.settings.products.few_shot_fraction,
        seed=ctx.settings.products.seed,
        radius_arcsec=ctx.settings.crossmatch.radius_arcsec,
        profile=ctx.settings.profile,
        training=ctx.settings.training,
    ),
    external_inputs=_apogee_catalog_inputs,
    description="Zero-shot, few-shot, consistency, fine-tuned heads and fast rotators, per model.",
)

KEY_FIGURES = ("umap-desa-class", "neural-cmd-desa", "pr-curves", "pair-distances")


def _key_figures_artifact(root: DataRoot, report: str, report_url: str | None) -> None:
    """The report's key figures inline in the Prefect UI, with a way to the report: a link
    when the data root's report folder is served over HTTP (`DESA_SERVE__REPORT_URL`), its
    path otherwise."""
    from prefect.artifacts import create_link_artifact, create_markdown_artifact

    if report_url:
        link = f"{report_url.rstrip('/')}/index.html"
        create_link_artifact(link, link_text="Open the report", key="report-link")
        lines = [f"[Open the full report]({link})", ""]
    else:
        lines = [f"Full report: `{report}`", ""]
    for stem in KEY_FIGURES:
        path = root.path(layout.figure(stem))
        if root.fs.exists(path):
            with root.fs.open(path, "rb") as handle:
                lines.append(f"![{stem}]({png_data_uri(handle.read())})")
    create_markdown_artifact("\n\n".join(lines), key="report-key-figures")


report_task = LazyTask("desa.report.build:write_report", name="report")


def _report(ctx: StageContext) -> StageResult:
    settings = ctx.settings
    result = report_task(ctx.root, settings.training.priors, settings.products.neighbors)
    _key_figures_artifact(ctx.root, result.paths["report"], settings.serve.report_url)
    return result


REPORT = StageDef(
    name="report",
    version="5",  # intervals, paired comparison, the store's models, APOGEE, reading guide
    writes=(layout.REPORT.relpath, layout.EXPLORER.relpath),
    reads=(
        layout.METRICS,
        layout.MAPS,
        layout.EMBEDDINGS,
        layout.labels("pairs"),
        layout.labels("cmd"),
    ),
    config=lambda s: {"neighbors": s.products.neighbors, "priors": list(s.training.priors)},
    body=_report,
    description="report/index.html (comparison and figures) and report/explorer.html.",
)
