"""Archive folder listings: an entry whose name is a path once unquoted is left out."""

from __future__ import annotations

import logging
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import quote

import pytest

from desa.surveys.listing import folder_names
from desa.surveys.mast_client import MastClient

KIC = 11442793


class _Index:
    """A session answering every GET with one Apache-style index page."""

    def __init__(self, hrefs: list[str]) -> None:
        links = "".join(f'<a href="{href}">{href}</a>\n' for href in hrefs)
        self.page = f'<html><body><a href="../">Parent Directory</a>\n{links}</body></html>'

    def get(self, url: str, timeout: float) -> SimpleNamespace:
        return SimpleNamespace(status_code=200, text=self.page, raise_for_status=lambda: None)


@pytest.fixture(scope="module")
def real_names(real_data: Path) -> list[str]:
    names = sorted(p.name for p in (real_data / "kepler").glob(f"kplr{KIC:09d}-*_llc.fits"))
    assert names
    return names


def _traversing(name: str) -> list[str]:
    """Hrefs whose last segment, once unquoted, is a path (`/` escaped as %2F)."""
    return [
        quote(f"../../../../{name}", safe=""),
        quote(f"/tmp/{name}", safe=""),
        quote(f"..\\{name}", safe=""),
    ]


def test_entries_that_unquote_to_paths_are_left_out_with_a_warning(
    real_names: list[str], caplog: pytest.LogCaptureFixture
) -> None:
    session = _Index([*real_names, *_traversing(real_names[0]), "./", "?C=N;O=D"])
    with caplog.at_level(logging.WARNING, logger="desa.surveys.listing"):
        names = folder_names("http://archive/0114/011442793/", session, 5.0)  # type: ignore[arg-type]
    assert names == real_names
    warned = [r.getMessage() for r in caplog.records]
    assert len(warned) == 3
    assert warned[0].startswith("http://archive/0114/011442793/: listing entry '")
    assert all("path traversal refused" in message for message in warned)


def test_kepler_requests_from_a_hostile_listing_stay_in_their_folder(
    real_names: list[str], tmp_path: Path
) -> None:
    client = MastClient("http://archive/kepler/lightcurves")
    client._session = _Index([real_names[0], *_traversing(real_names[1])])  # type: ignore[assignment]
    dest = tmp_path / "data" / "raw" / "kepler"
    requests = client.lightcurve_requests([KIC], dest)
    assert [r.key for r in requests] == [real_names[0]]
    assert all(Path(r.dest).resolve().is_relative_to(dest) for r in requests)
