"""The settings as stages see them, and the archive clients and downloader made from them."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

from desa.surveys.lamost_client import LamostClient, Release, newest_release
from desa.surveys.mast_client import MastClient
from flows.settings import Settings
from storage.download import Downloader
from storage.layout import DataRoot


def load_settings() -> Settings:
    """The settings as the stages see them: the environment's, with the release resolved."""
    return resolve_release(Settings())


def resolve_release(settings: Settings) -> Settings:
    """``settings`` with a LAMOST release of "latest" resolved to the newest one listed.

    Resolved on every load, so that every stage of a run (and `desa status`) keys its work by
    the release it really reads. Before the archive lists any release (a demo mirror not yet
    written) "latest" stays as it is and the stages that need a release wait for it.
    """
    archive = settings.archive
    if "latest" not in (archive.lamost_dr, archive.lamost_version):
        return settings
    newest = newest_release(available_releases(settings), archive.lamost_version)
    if newest is None:
        return settings
    pinned = {"lamost_dr": newest.dr, "lamost_version": newest.version}
    return settings.model_copy(update={"archive": archive.model_copy(update=pinned)})


def available_releases(settings: Settings) -> list[Release]:
    """The LAMOST releases the configured archive lists (of the pinned data release, if any)."""
    releases = lamost_client(settings).releases(timeout_s=settings.fetch.timeout_s)
    dr = settings.archive.lamost_dr
    return [r for r in releases if dr == "latest" or r.dr == dr]


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
