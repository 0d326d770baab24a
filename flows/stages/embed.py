"""Stage `embed`: every compared model's embedding of every pair and star (`embeddings.zarr`).

The models are `desa.training.comparison.comparison_models` of the settings; the store's
attributes name them, so `finetune` and the product stages read the same list from it. The
body is `desa.products.embeddings.write_embedding_store`.
"""

from __future__ import annotations

from desa.training.comparison import embed_config  # torch-free: the key
from flows.stage import StageDef
from flows.stages.lazy_task import LazyTask
from storage import layout

embed_task = LazyTask("desa.products.embeddings:write_embedding_store", name="embed")

EMBED = StageDef(
    name="embed",
    version="2",  # every model of the comparison, with the priors; model list in the attrs
    writes=(layout.EMBEDDINGS.relpath,),
    reads=(
        layout.FEATURES,
        layout.DUALFORMERS,
        layout.BASELINES,
    ),
    config=lambda s: embed_config(s.comparison(), s.training.reference_moco),
    body=lambda ctx: embed_task(
        ctx.root, ctx.settings.comparison(), ctx.settings.training, ctx.inputs
    ),
    description="Every compared model's embedding of every pair and star (embeddings.zarr).",
)
