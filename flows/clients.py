"""Archive clients and the downloader, configured from the settings."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

from desa.config import Settings
from desa.surveys.lamost_client import LamostClient
from desa.surveys.mast_client import MastClient
from storage.download import Downloader
from storage.layout import DataRoot


def lamost_client(settings: Settings) -> LamostClient:
    archive = settings.archive
    return LamostClient(
        archive.lamost_base_url,
        dr=archive.lamost_dr,
        version=archive.lamost_version,
        mode=archive.lamost_mode,
        token_env=archive.lamost_token_env,
    )


def mast_client(settings: Settings) -> MastClient:
    return MastClient(settings.archive.mast_base_url)


def downloader(
    settings: Settings,
    verify: Callable[[Path], None] | None = None,
    secret_params: Mapping[str, str] | None = None,
) -> Downloader:
    fetch = settings.fetch
    return Downloader(
        DataRoot(settings.data_root).fs,
        concurrency=fetch.concurrency,
        timeout_s=fetch.timeout_s,
        retries=fetch.retries,
        backoff_s=fetch.backoff_s,
        max_backoff_s=fetch.max_backoff_s,
        verify=verify,
        secret_params=secret_params,
    )
