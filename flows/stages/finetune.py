"""Stage `finetune`: binary-vs-single and calibrated age heads on every model's embedding
(the models named in the attributes of `embeddings.zarr`)."""

from __future__ import annotations

from dataclasses import asdict
from typing import TYPE_CHECKING

from prefect import task
from prefect.cache_policies import NO_CACHE

from desa.models.profiles import model_configs
from desa.products.embeddings import read_embeddings
from flows.progress import StageProgress
from flows.stage import StageContext, StageDef
from flows.stages.train import job_for, publish_model
from storage import layout
from storage.fingerprint import fingerprint_frame
from storage.state import StageResult
from storage.tables import read_parquet, write_parquet

if TYPE_CHECKING:
    from desa.training.fit import FitResult
    from desa.training.runs import Job


@task(name="finetune", cache_policy=NO_CACHE)
def finetune_task(ctx: StageContext) -> StageResult:
    from desa.training.finetune import finetune, star_targets  # Lightning: only when run

    root, training = ctx.root, ctx.settings.training
    stars, star_values, attrs = read_embeddings(root.store_url("embeddings.zarr"), "stars")
    targets = star_targets(
        stars,
        read_parquet(root.fs, root.path("labels", "binary.parquet")),
        read_parquet(root.fs, root.path("labels", "ages.parquet")),
    )
    outputs, paths, losses = {}, {}, {}
    heads: dict[str, StageProgress] = {}  # each head's epochs, until the head is published

    def job(name: str) -> Job:
        heads[name] = StageProgress("finetune", "epochs", training.finetune.max_epochs, name)
        return job_for(ctx, f"finetune/{name}", training.finetune, heads[name].update)

    def publish(job_name: str, result: FitResult) -> None:
        name = job_name.removeprefix("finetune/")
        heads.pop(name).close()
        dest = paths[name] = root.path("models", f"{job_name}.ckpt")
        outputs[name] = publish_model(ctx, result, dest, f"checkpoints/{job_name}")
        losses[name] = {k: round(v, 6) for k, v in result.losses.items()}

    predictions, scores = finetune(
        job,
        stars,
        star_values,
        targets,
        model_configs(ctx.settings.profile).head,
        publish,
        models=attrs["models"],
        binary_only=attrs["binary_only"],
        head_inputs=attrs["head_inputs"],
    )
    dest = paths["predictions"] = root.path("finetune", "predictions.parquet")
    outputs["predictions"] = fingerprint = fingerprint_frame(predictions)
    write_parquet(predictions, root.fs, dest, metadata={"content_fingerprint": fingerprint})
    rows = [{"model": name, **values} for name, values in scores.items()]
    summary = {"stars": len(stars), **scores, "head_losses": losses}
    return StageResult(outputs, paths, summary, rows)


FINETUNE = StageDef(
    name="finetune",
    version="2",  # the models named by embeddings.zarr; binary head alone for binary-only
    writes=("models/finetune/<model>-{binary,age}.ckpt", "finetune/predictions.parquet"),
    reads=(layout.EMBEDDINGS, layout.labels("binary"), layout.labels("ages")),
    config=lambda s: {
        "head": asdict(model_configs(s.profile).head),
        "loop": s.training.finetune.model_dump(mode="json"),
        "seed": s.training.seed,
    },
    body=lambda ctx: finetune_task(ctx),
    description="Binary-vs-single and calibrated age heads on DESA and every baseline.",
    gpu=True,
)
