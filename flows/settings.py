"""The application's settings: env (`DESA_*`, nested with `__`), optional `desa.toml`, profiles.

Precedence, highest first: arguments, environment, `desa.toml`, the profile's defaults, the
field defaults. `DESA_PROFILE` (or `profile = ...` in desa.toml) picks `demo` or `paper`.
An unknown key in either is an error naming the closest valid one (flows/setting_names.py).
The library never reads them: the flows hand each function its part (the training and label
sections are the library's own configs, `desa.training.config` and `catalogs.labels.config`).
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from catalogs.labels.config import LabelConfig
from desa.training.config import ComparisonConfig, TrainingConfig
from flows.setting_names import check_environment, check_table

Profile = Literal["demo", "paper"]


def _empty_is_none(value: Any) -> Any:
    """An empty environment variable switches an optional setting off."""
    return None if value == "" else value


class SkySettings(BaseModel):
    """The synthetic sky of the demo profile."""

    n_stars: int = Field(300, ge=10)
    seed: int = 7
    max_quarters: int = Field(4, ge=2, le=18)  # Kepler quarters per star (~0.5 MB a file)
    workers: int = Field(2, ge=1)  # processes writing the FITS files (same output for any value)
    mirror: str | None = None  # default: <data_root>/mirror


class ArchiveSettings(BaseModel):
    """Where survey files and catalogs come from. Real endpoints: research/data_sources.md."""

    lamost_base_url: str = "https://www.lamost.org/openapi"
    lamost_mode: Literal["openapi", "legacy", "tree"] = "openapi"
    # A pinned release, or "latest": the newest the archive lists (research/data_sources.md §5).
    lamost_dr: str = Field("dr8", pattern=r"^(dr\d+|latest)$")
    lamost_version: str = Field("v2.0", pattern=r"^(v\d+(\.\d+)?|latest)$")
    lamost_token_env: str = "LAMOST_TOKEN"
    mast_base_url: str = "https://archive.stsci.edu/missions/kepler/lightcurves"
    # "tree": list each target's folder in the archive tree; "search": astroquery MAST search.
    mast_mode: Literal["tree", "search"] = "tree"
    # Base URL for catalogs with a mirror path (demo); None = each catalog's real source.
    catalog_mirror_url: str | None = None


class FetchSettings(BaseModel):
    concurrency: int = Field(4, ge=1, le=64)
    timeout_s: float = 30.0
    retries: int = Field(4, ge=0)
    backoff_s: float = 0.5
    max_backoff_s: float = 30.0
    batch_size: int = Field(2000, ge=1)  # objects per Prefect task
    max_failure_fraction: float = Field(0.05, ge=0.0, le=1.0)


class CatalogSettings(BaseModel):
    max_failure_fraction: float = Field(0.0, ge=0.0, le=1.0)  # catalogs are few: any failure fails


class CrossmatchSettings(BaseModel):
    radius_arcsec: float = Field(3.0, gt=0)


class SelectionSettings(BaseModel):
    """Which objects the fetch stages ask for."""

    # Spectra: all LAMOST stellar spectra (pretraining) or only those matched to Kepler.
    spectra: Literal["all", "matched"] = "all"
    # Light curves: every Kepler star in the Kepler–Gaia table (pretraining) or only matched.
    lightcurves: Literal["all", "matched"] = "all"
    min_snrg: float = 0.0


class DaskSettings(BaseModel):
    """Where the preprocessing stages run. `DESA_DASK_ADDRESS` (top level) wins over all."""

    cluster: Literal["local", "jobqueue"] = "local"
    n_workers: int = Field(2, ge=1)
    threads_per_worker: int = Field(1, ge=1)
    # jobqueue profile: the cluster class and its keyword arguments (dask-jobqueue installed
    # separately), e.g. {"queue": "gpu", "cores": 8, "memory": "32GB"}.
    jobqueue_class: str = "dask_jobqueue.SLURMCluster"
    cluster_kwargs: dict[str, Any] = Field(default_factory=dict)
    adapt_max: int = Field(8, ge=1)


class SpectraSettings(BaseModel):
    rv_source: Literal["file", "catalog"] = "file"  # Z·c from the FITS header, or LAMOST rv
    mask_bad_pixels_before_fit: bool = False  # improvement over the paper recipe, off
    chunk_rows: int = Field(512, ge=1)  # 512 x 3600 float32 = 7 MB per chunk
    shard_rows: int = Field(2048, ge=1)  # objects per Prefect task; a multiple of chunk_rows


class LightcurveSettings(BaseModel):
    quality_bitmask: str = "default"  # lightkurve's names: none, default, hard, hardest
    min_quarters: int = Field(2, ge=1)
    reference_luminosity: bool = False  # True: the reference code's 2**M instead of 10**(-0.4 M)
    chunk_rows: int = Field(32, ge=1)  # 32 stars x ~71k cadences float32 = 9 MB per chunk
    shard_rows: int = Field(256, ge=1)


class LabelSettings(BaseModel):
    """Label sources and cuts; each default and its citation: catalogs/labels/config.py."""

    prot_priority: tuple[str, ...] = LabelConfig.prot_priority
    age_priority: tuple[str, ...] = LabelConfig.age_priority
    ruwe_single_max: float = LabelConfig.ruwe_single_max
    ruwe_binary_min: float = LabelConfig.ruwe_binary_min
    delta_k_single_min: float = LabelConfig.delta_k_single_min  # mag
    require_delta_k: bool = LabelConfig.require_delta_k
    fast_rotator_prot_max: float | None = LabelConfig.fast_rotator_prot_max  # days
    split_fractions: tuple[float, float, float] = LabelConfig.split_fractions
    split_salt: str = LabelConfig.split_salt

    def config(self) -> LabelConfig:
        return LabelConfig(**self.model_dump())


class TrainingSettings(TrainingConfig):
    """The training stages: the run (`desa.training.config`) and where it runs."""

    # A Prefect work pool (e.g. "gpu") whose worker runs the training stages; None: in-process.
    work_pool: str | None = None

    _optional = field_validator("work_pool", mode="before")(_empty_is_none)


class EvaluateSettings(BaseModel):
    """Which extra models the comparison trains and scores (`desa.training.comparison`)."""

    # DualFormer ablations (paper sec. 6): self-only and cross-only attention, W for both.
    ablations: bool = False
    # RUWE defines the binary labels in part: also train and score every model on the binary
    # task with RUWE left out of its priors (models named `<model>_no_ruwe`).
    binary_without_ruwe: bool = False


class ProductsSettings(BaseModel):
    """UMAP maps, the comparison and the explorer (paper sec. 6)."""

    umap_neighbors: int = Field(15, ge=2)
    umap_min_dist: float = Field(0.1, ge=0)
    umap_fit_max: int = Field(50_000, ge=3)  # training stars a reducer is fitted on, at most
    few_shot_fraction: float = Field(0.1, gt=0, lt=1)  # of the test stars, as the paper
    neighbors: int = Field(10, ge=1)  # nearest stars listed per star in the explorer
    seed: int = 0


class ScheduleSettings(BaseModel):
    """When `desa serve` rebuilds and looks for new releases (times in UTC)."""

    rebuild_cron: str | None = "0 4 * * 1"  # weekly, Monday 04:00; empty: no schedule
    watch_interval: timedelta | None = timedelta(days=1)  # seconds or ISO 8601; empty: none

    _optional = field_validator("rebuild_cron", mode="before")(_empty_is_none)

    @field_validator("watch_interval", mode="before")
    @classmethod
    def _seconds_or_duration(cls, value: Any) -> Any:
        """Environment values arrive as text: "86400" means seconds, like "P1D"."""
        if isinstance(value, str):
            value = value.strip()
            return None if not value else float(value) if value.isdigit() else value
        return value


class ServeSettings(BaseModel):
    """The served system (`desa serve`)."""

    # A second rebuild requested while one runs waits for it ("enqueue": nothing requested is
    # lost; a rebuild with nothing new is a no-op) or is cancelled ("cancel").
    rebuild_collision: Literal["enqueue", "cancel"] = "enqueue"
    # Where browsers find <data_root>/report over HTTP (compose's `reports` service); None:
    # artifacts show the report's path instead.
    report_url: str | None = None
    # How long a deployment run waits for the run holding the pipeline (a rebuild, say).
    pipeline_wait_s: float = Field(12 * 3600, ge=0)

    _optional = field_validator("report_url", mode="before")(_empty_is_none)


# The demo's tiny models learn in minutes on 2 CPU cores only with larger steps than the
# reference's (sec. 10), which are tuned for the paper-size models.
_DEMO_LOOP = {"max_epochs": 30, "lr": 1e-3, "weight_decay": 1e-5, "patience": 8}
_PROFILE_DEFAULTS: dict[str, dict[str, Any]] = {
    "demo": {
        # The demo mirror publishes releases (`desa demo-sky --release`); follow them.
        "archive": {"lamost_mode": "tree", "lamost_dr": "latest"},
        "training": {
            "spectra": {**_DEMO_LOOP, "batch_size": 32, "max_epochs": 80, "patience": 20},
            "lightcurves": {**_DEMO_LOOP, "batch_size": 32},
            "dualformer": {**_DEMO_LOOP, "batch_size": 32},
            "baselines": {**_DEMO_LOOP, "batch_size": 32},
            "finetune": {**_DEMO_LOOP, "max_epochs": 60, "batch_size": 32, "patience": 15},
        },
        # The no-RUWE binary models add about a minute to the demo (README "Demo run").
        "evaluate": {"binary_without_ruwe": True},
        # Sized so the headline comparisons resolve: ~220 test stars with a CMD label, ~200
        # with a binary label (~50 binaries) and ~135 with an age (seed 7; counts in
        # README). With the paper's 10% test share that would take ~3000 stars.
        "sky": {"n_stars": 1000},
        "labels": {"split_fractions": (0.6, 0.1, 0.3)},
    },
    "paper": {},
}


def _deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="DESA_",
        env_nested_delimiter="__",
        toml_file=os.environ.get("DESA_CONFIG", "desa.toml"),
        extra="forbid",
    )

    profile: Profile = "demo"
    data_root: str = "./data"
    dask_address: str | None = None
    sky: SkySettings = SkySettings()
    archive: ArchiveSettings = ArchiveSettings()
    fetch: FetchSettings = FetchSettings()
    catalogs: CatalogSettings = CatalogSettings()
    crossmatch: CrossmatchSettings = CrossmatchSettings()
    selection: SelectionSettings = SelectionSettings()
    dask: DaskSettings = DaskSettings()
    spectra: SpectraSettings = SpectraSettings()
    lightcurves: LightcurveSettings = LightcurveSettings()
    labels: LabelSettings = LabelSettings()
    training: TrainingSettings = TrainingSettings()
    evaluate: EvaluateSettings = EvaluateSettings()
    products: ProductsSettings = ProductsSettings()
    schedule: ScheduleSettings = ScheduleSettings()
    serve: ServeSettings = ServeSettings()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Unknown keys are typos, not settings: stop before they are silently dropped.
        check_environment(os.environ, settings_cls)
        toml = TomlConfigSettingsSource(settings_cls)
        check_table(toml.toml_data, settings_cls, str(settings_cls.model_config["toml_file"]))
        return (init_settings, env_settings, toml)

    @model_validator(mode="before")
    @classmethod
    def _apply_profile(cls, values: dict[str, Any]) -> dict[str, Any]:
        profile = values.get("profile", "demo")
        return _deep_merge(_PROFILE_DEFAULTS.get(profile, {}), values)

    @model_validator(mode="after")
    def _demo_reads_the_mirror(self) -> Settings:
        """In the demo profile every archive URL defaults to the local synthetic mirror."""
        if self.profile == "demo":
            mirror = self.mirror_url
            defaults = ArchiveSettings()
            if self.archive.lamost_base_url == defaults.lamost_base_url:
                self.archive.lamost_base_url = f"{mirror}/lamost"
            if self.archive.mast_base_url == defaults.mast_base_url:
                self.archive.mast_base_url = f"{mirror}/kepler/lightcurves"
            if self.archive.catalog_mirror_url is None:
                self.archive.catalog_mirror_url = mirror
        return self

    @property
    def mirror_url(self) -> str:
        """URL of the demo mirror (file:// for a local folder)."""
        if self.sky.mirror:
            mirror = self.sky.mirror.rstrip("/")
            return mirror if "://" in mirror else Path(mirror).resolve().as_uri()
        root = self.data_root.rstrip("/")
        if "://" in root:
            return f"{root}/mirror"
        return Path(root, "mirror").resolve().as_uri()

    def comparison(self) -> ComparisonConfig:
        """The compared models' part of the settings (`desa.training.comparison`)."""
        return ComparisonConfig(
            profile=self.profile,
            priors=tuple(self.training.priors),
            ablations=self.evaluate.ablations,
            binary_without_ruwe=self.evaluate.binary_without_ruwe,
            reference_cross_bug=self.training.reference_cross_bug,
        )

    def public_dict(self) -> dict[str, Any]:
        """The settings as plain data (no secrets are held here: tokens stay in the environment)."""
        return self.model_dump(mode="json")
