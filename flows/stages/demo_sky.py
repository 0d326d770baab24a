"""Stage `demo-sky` (demo profile only): write the synthetic archive mirror the demo reads."""

from __future__ import annotations

from pathlib import Path

import fsspec
from prefect import task
from prefect.cache_policies import NO_CACHE

from desa.sky.mirror import build_sky
from flows.settings import Settings
from flows.stage import StageDef
from storage.fingerprint import sha256_file
from storage.state import StageResult

NAME = "demo-sky"


def mirror_dir(settings: Settings) -> Path:
    fs, path = fsspec.core.url_to_fs(settings.mirror_url)
    if fs.protocol not in ("file", "local") and "file" not in fs.protocol:
        raise ValueError(
            f"the demo sky is written to a local folder; {settings.mirror_url} is not local "
            "(set DESA_SKY__MIRROR to a local path)"
        )
    return Path(path)


@task(name="build-sky", cache_policy=NO_CACHE)
def build_sky_task(settings: Settings) -> StageResult:
    out = mirror_dir(settings)
    sky = settings.sky
    summary = build_sky(
        out, n_stars=sky.n_stars, seed=sky.seed, max_quarters=sky.max_quarters, workers=sky.workers
    )
    truth = out / "truth" / "stars.parquet"
    fs = fsspec.filesystem("file")
    return StageResult(
        {"truth": sha256_file(fs, str(truth))},
        {"mirror": str(out), "truth": str(truth)},
        {k: v for k, v in vars(summary).items() if isinstance(v, int | float | str)},
        [{"item": k, "value": v} for k, v in vars(summary).items() if isinstance(v, int | float)],
    )


STAGE = StageDef(
    name=NAME,
    version="2",  # composite binaries, ellipsoidal variation, activity; APOGEE; IOP Bouma
    writes=("mirror/ (the synthetic archive)", "mirror/truth/*.parquet"),
    reads=(),
    config=lambda s: {
        "n_stars": s.sky.n_stars,
        "seed": s.sky.seed,
        "max_quarters": s.sky.max_quarters,
        "mirror": s.mirror_url,
    },
    body=lambda ctx: build_sky_task(ctx.settings),
    profiles=("demo",),
    description="Write the deterministic synthetic sky as an archive mirror (demo profile).",
)
