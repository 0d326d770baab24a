"""Stage `finetune`: binary-vs-single and calibrated age heads on every model's embedding
(the models named in the attributes of `embeddings.zarr`); the body is
`desa.training.stages.train_heads`."""

from __future__ import annotations

from dataclasses import asdict

from desa.models import profiles  # torch-free: the key's configs
from flows.progress import StageProgress, detail_log
from flows.stage import StageDef
from flows.stages.lazy_task import LazyTask
from storage import layout

finetune_task = LazyTask("desa.training.stages:train_heads", name="finetune")

FINETUNE = StageDef(
    name="finetune",
    version="2",  # the models named by embeddings.zarr; binary head alone for binary-only
    writes=(layout.model("finetune/<model>-{binary,age}"), layout.PREDICTIONS.relpath),
    reads=(layout.EMBEDDINGS, layout.labels("binary"), layout.labels("ages")),
    config=lambda s: {
        "head": asdict(profiles.model_configs(s.profile).head),
        "loop": s.training.finetune.model_dump(mode="json"),
        "seed": s.training.seed,
    },
    body=lambda ctx: finetune_task(
        ctx.root, ctx.settings.training, ctx.settings.profile, ctx.inputs, StageProgress, detail_log
    ),
    description="Binary-vs-single and calibrated age heads on DESA and every baseline.",
    gpu=True,
)
