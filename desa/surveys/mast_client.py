"""Kepler long-cadence light curves from the MAST archive tree (or a mirror of it).

MAST serves one folder per target, `{base}/{kic9[:4]}/{kic9}/`, with an Apache-style HTML index,
holding `kplr{kic9}-{stamp}_llc.fits` per quarter present (data_sources.md §2.1; not every target
has every quarter, so the folder is listed rather than guessed). The same layout is read from a
local mirror through file:// URLs.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from os import PathLike
from typing import Any
from urllib.parse import urlencode

import requests

from desa.surveys.kepler import QUARTERS, llc_filename, parse_llc_filename
from desa.surveys.listing import folder_names, local_folder
from storage.download import DownloadRequest
from storage.errors import BadInputError
from storage.fingerprint import fingerprint_json

log = logging.getLogger(__name__)

# data_sources.md §2.1 (lightkurve tests; exoplanet-ml kepler_io.py; MAST download_options page).
MAST_LIGHTCURVES = "https://archive.stsci.edu/missions/kepler/lightcurves"
# The file endpoint astroquery.mast downloads a product's dataURI from.
MAST_DOWNLOAD = "https://mast.stsci.edu/api/v0.1/Download/file"


def search_lightcurve_requests(
    kics: Iterable[int], dest_dir: str | PathLike[str], observations: Any = None
) -> list[DownloadRequest]:
    """The alternative to the archive tree: find each target's LLC products by MAST search.

    Uses astroquery's ``Observations`` (query_criteria on the Kepler collection by target name
    ``kplr{kic:09d}``, then get_product_list and filter_products on the LLC subgroup;
    data_sources.md §2.3); ``observations`` lets tests pass a stand-in. Destinations mirror the
    MAST tree under ``dest_dir`` like ``MastClient.lightcurve_requests``.
    """
    if observations is None:
        from astroquery.mast import Observations as observations
    root = str(dest_dir).rstrip("/")
    out: list[DownloadRequest] = []
    for kic in dict.fromkeys(int(k) for k in kics):
        kic9 = f"{kic:09d}"
        found = observations.query_criteria(
            obs_collection="Kepler", target_name=f"kplr{kic9}", dataproduct_type="timeseries"
        )
        if len(found) == 0:
            continue
        products = observations.filter_products(
            observations.get_product_list(found), productSubGroupDescription="LLC"
        )
        for name, uri in sorted(zip(products["productFilename"], products["dataURI"], strict=True)):
            out.append(
                DownloadRequest(
                    key=name,
                    url=f"{MAST_DOWNLOAD}?{urlencode({'uri': uri})}",
                    dest=f"{root}/{kic9[:4]}/{kic9}/{name}",
                )
            )
    return out


class MastClient:
    """URLs, folder listings and download requests for Kepler long-cadence files."""

    def __init__(
        self,
        base_url: str = MAST_LIGHTCURVES,
        *,
        session: requests.Session | None = None,
        timeout_s: float = 30.0,
        concurrency: int = 4,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout_s = timeout_s
        self.concurrency = concurrency
        self._session = session or requests.Session()

    def target_url(self, kic: int) -> str:
        kic9 = f"{int(kic):09d}"
        return f"{self.base_url}/{kic9[:4]}/{kic9}/"

    def llc_url(self, kic: int, stamp: str) -> str:
        return self.target_url(kic) + llc_filename(kic, stamp)

    def list_quarters(self, kic: int) -> list[str]:
        """Names of the target's long-cadence files, in time order; [] when it has no folder.

        Raises ``requests.RequestException`` (or ``OSError`` for file://) when the listing
        cannot be read.
        """
        names = folder_names(self.target_url(kic), self._session, self.timeout_s)
        return [name for name in names if _is_llc_of(name, kic)]

    def tree_stamp(self) -> str:
        """A fingerprint of the archive tree, to notice that it changed.

        A local mirror is fingerprinted by every file's path and size; a remote tree by its
        top-level index (Kepler is final, DR25: a change there means the archive moved).
        """
        folder = local_folder(self.base_url)
        if folder is None:
            top = folder_names(f"{self.base_url}/", self._session, self.timeout_s)
            return fingerprint_json(top)
        files = sorted(
            (str(path.relative_to(folder)), path.stat().st_size)
            for path in folder.rglob("*")
            if path.is_file()
        )
        return fingerprint_json(files)

    def lightcurve_requests(
        self,
        kics: Iterable[int],
        dest_dir: str | PathLike[str],
        quarters: Iterable[int] | None = None,
    ) -> list[DownloadRequest]:
        """One request per long-cadence file of each target (only ``quarters`` when given);
        destinations mirror the MAST tree under ``dest_dir``.

        A target whose listing fails gets a request for every stamp of the wanted quarters with
        ``missing_ok=True``, so its absent quarters end up 'absent' rather than 'failed'.
        """
        stamps = _stamps(quarters)
        root = str(dest_dir).rstrip("/")
        kic_list = list(dict.fromkeys(int(k) for k in kics))  # a repeated KIC is fetched once
        with ThreadPoolExecutor(self.concurrency) as pool:
            listings = list(pool.map(self._listing_or_none, kic_list))
        out: list[DownloadRequest] = []
        for kic, names in zip(kic_list, listings, strict=True):
            if names is None:
                wanted = sorted(stamps if stamps is not None else _all_stamps())
                names, missing_ok = [llc_filename(kic, s) for s in wanted], True
            else:
                missing_ok = False
            for name in names:
                if stamps is not None and parse_llc_filename(name)[1] not in stamps:
                    continue
                kic9 = f"{kic:09d}"
                out.append(
                    DownloadRequest(
                        key=name,
                        url=self.target_url(kic) + name,
                        dest=f"{root}/{kic9[:4]}/{kic9}/{name}",
                        missing_ok=missing_ok,
                    )
                )
        return out

    def _listing_or_none(self, kic: int) -> list[str] | None:
        try:
            return self.list_quarters(kic)
        except (requests.RequestException, OSError) as err:
            log.warning(
                "KIC %d: cannot list %s (%s); probing every quarter",
                kic,
                self.target_url(kic),
                type(err).__name__,
            )
            return None


def _is_llc_of(name: str, kic: int) -> bool:
    try:
        return parse_llc_filename(name)[0] == kic
    except BadInputError:
        return False  # other files in the folder (tarballs, short cadence, indexes)


def _all_stamps() -> set[str]:
    return {s for q in QUARTERS.values() for s in q.stamps}


def _stamps(quarters: Iterable[int] | None) -> set[str] | None:
    if quarters is None:
        return None
    wanted: Sequence[int] = list(quarters)
    unknown = sorted(set(wanted) - set(QUARTERS))
    if unknown:
        raise ValueError(f"unknown Kepler quarters {unknown}; known: 0-{max(QUARTERS)}")
    return {s for q in wanted for s in QUARTERS[q].stamps}
