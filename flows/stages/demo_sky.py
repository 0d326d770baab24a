"""Stage `demo-sky` (demo profile only): write the synthetic archive mirror the demo reads."""

from __future__ import annotations

from pathlib import Path

import fsspec

from flows.settings import Settings
from flows.stage import StageDef
from flows.stages.lazy_task import LazyTask

build_sky_task = LazyTask("desa.sky.mirror:publish_sky", name="build-sky")


def mirror_dir(settings: Settings) -> Path:
    fs, path = fsspec.core.url_to_fs(settings.mirror_url)
    if fs.protocol not in ("file", "local") and "file" not in fs.protocol:
        raise ValueError(
            f"the demo sky is written to a local folder; {settings.mirror_url} is not local "
            "(set DESA_SKY__MIRROR to a local path)"
        )
    return Path(path)


def _build(settings: Settings) -> object:
    sky = settings.sky
    return build_sky_task(
        mirror_dir(settings),
        n_stars=sky.n_stars,
        seed=sky.seed,
        max_quarters=sky.max_quarters,
        workers=sky.workers,
    )


STAGE = StageDef(
    name="demo-sky",
    version="2",  # composite binaries, ellipsoidal variation, activity; APOGEE; IOP Bouma
    # "truth" is desa.sky.mirror.TRUTH_DIR, spelled out so that listing the stages does not
    # import the sky simulator (scipy)
    writes=("mirror/ (the synthetic archive)", "mirror/truth/*.parquet"),
    reads=(),
    config=lambda s: {
        "n_stars": s.sky.n_stars,
        "seed": s.sky.seed,
        "max_quarters": s.sky.max_quarters,
        "mirror": s.mirror_url,
    },
    body=lambda ctx: _build(ctx.settings),
    profiles=("demo",),
    checksummed=False,  # releases are published into the mirror outside the stage
    description="Write the deterministic synthetic sky as an archive mirror (demo profile).",
)
