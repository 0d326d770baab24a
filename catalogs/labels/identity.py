"""One star identity for spectra and light curves (data_sources.md §4).

``star_id`` is text, chosen in this order:

1. the Gaia source id (digits): for a spectrum matched to a Kepler star, and for every Kepler
   star, the Gaia id of that KIC in the Kepler-Gaia table (its nearest Gaia row: smallest
   ``kepler_gaia_ang_dist``, then brightest, then smallest id); for an unmatched spectrum, the
   LAMOST catalog's ``gaia_source_id``;
2. ``kic:<kic>`` for a Kepler star without a usable Gaia id;
3. ``lamost:<designation>`` for an unmatched spectrum without a Gaia id;
4. ``obsid:<obsid>`` when nothing else is known (a spectrum absent from the LAMOST catalog).

A Kepler star's id is a function of its KIC alone, so its light curve and every spectrum matched
to it share one id; the crossmatch already gives all spectra of one LAMOST star (same uid or
Gaia id) the same KIC, and unmatched repeats share their Gaia id or designation. Nothing here
depends on which other spectra exist, so adding data does not change an id.

Known limits:
- LAMOST DR8 v1.0 ``gaia_source_id`` values are Gaia DR2 ids, the Kepler-Gaia table's are DR3.
  Most sources kept their id from DR2 to DR3, but not all: an unmatched spectrum can carry a DR2
  id that no DR3-based table knows (bridging needs ``gaiadr3.dr2_neighbourhood``).
- A Gaia id that is the nearest source of two KICs (a blend) identifies neither: both fall back
  to ``kic:<kic>``.
- An id moves when its inputs change: a spectrum that becomes matched to a Kepler star (new
  crossmatch, new Kepler-Gaia version) takes that star's id, and a KIC that gains a Gaia row
  leaves ``kic:<kic>``. Run the labels stage with the Kepler-Gaia table, always.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class StarIds:
    """Star ids of spectra and Kepler stars.

    ``spectra``: one row per obsid of the LAMOST catalog or the crossmatch, columns ``obsid``,
    ``kic`` (Int64, missing when unmatched), ``star_id``, ``id_source`` (the rule that gave the
    id: "gaia_kepler", "kic", "gaia_lamost", "designation" or "obsid"). ``kepler``: one row per
    KIC of the Kepler-Gaia table or the crossmatch, columns ``kic``, ``gaia_source_id`` (None
    when unusable) and ``star_id``.
    """

    spectra: pd.DataFrame
    kepler: pd.DataFrame

    def of_obsids(self, obsids: Iterable[int]) -> np.ndarray:
        """Star id per obsid (object array); ``obsid:<obsid>`` for an unknown obsid."""
        wanted = pd.Series(np.asarray(list(obsids), dtype=np.int64))
        known = wanted.map(self.spectra.set_index("obsid")["star_id"])
        return known.fillna("obsid:" + wanted.astype(str)).to_numpy(dtype=object)

    def of_kics(self, kics: Iterable[int]) -> np.ndarray:
        """Star id per KIC (object array); ``kic:<kic>`` for a KIC the tables do not know."""
        wanted = pd.Series(np.asarray(list(kics), dtype=np.int64))
        known = wanted.map(self.kepler.set_index("kic")["star_id"])
        return known.fillna("kic:" + wanted.astype(str)).to_numpy(dtype=object)


def star_ids(
    lamost: pd.DataFrame | None,
    crossmatch: pd.DataFrame | None,
    kepler_gaia: pd.DataFrame | None,
) -> StarIds:
    """Star ids from the normalised LAMOST and Kepler-Gaia tables and the obsid->kic crossmatch.

    Any input may be None (or lack optional columns); ids then fall further down the order.
    """
    links = _links(crossmatch)
    kepler = _kepler_ids(kepler_gaia, links["kic"])
    spectra = _spectra_ids(lamost, links, kepler)
    return StarIds(spectra=spectra, kepler=kepler)


def _links(crossmatch: pd.DataFrame | None) -> pd.DataFrame:
    if crossmatch is None or crossmatch.empty:
        return pd.DataFrame({"obsid": pd.Series(dtype=np.int64), "kic": pd.Series(dtype=np.int64)})
    links = crossmatch[["obsid", "kic"]].astype(np.int64)
    if links["obsid"].duplicated().any():
        raise ValueError("crossmatch: an obsid has several kics (expected one row per spectrum)")
    return links


def nearest_gaia_rows(kepler_gaia: pd.DataFrame | None) -> pd.DataFrame:
    """One Kepler-Gaia row per KIC: the nearest Gaia source, then the brightest, then the
    smallest id (``gaia_source_id`` as digit text; rows without a Gaia id are dropped)."""
    if kepler_gaia is None or "gaia_source_id" not in kepler_gaia.columns:
        return pd.DataFrame({"kic": pd.Series(dtype=np.int64), "gaia_source_id": []})
    rows = kepler_gaia.assign(gaia_source_id=_digits(kepler_gaia["gaia_source_id"]))
    rows = rows.dropna(subset=["gaia_source_id"])
    order = [c for c in ("kepler_gaia_ang_dist", "phot_g_mean_mag") if c in rows.columns]
    rows = rows.assign(_id_len=rows["gaia_source_id"].str.len())  # digits sort by length first
    rows = rows.sort_values(["kic", *order, "_id_len", "gaia_source_id"], kind="stable")
    return rows.drop_duplicates("kic").drop(columns="_id_len").reset_index(drop=True)


def _kepler_ids(kepler_gaia: pd.DataFrame | None, linked_kics: pd.Series) -> pd.DataFrame:
    """One row per KIC: its nearest Gaia source (unless shared with another KIC) and star id."""
    rows = nearest_gaia_rows(kepler_gaia)[["kic", "gaia_source_id"]]
    blended = rows["gaia_source_id"].duplicated(keep=False)
    rows = rows[~blended]
    known = [kepler_gaia["kic"]] if kepler_gaia is not None else []
    every_kic = pd.concat([*known, linked_kics]).astype(np.int64).drop_duplicates().sort_values()
    out = pd.DataFrame({"kic": every_kic.to_numpy()}).merge(rows, on="kic", how="left")
    out["gaia_source_id"] = (
        out["gaia_source_id"].astype(object).where(out["gaia_source_id"].notna(), None)
    )
    out["star_id"] = out["gaia_source_id"].fillna("kic:" + out["kic"].astype(str))
    return out


def _spectra_ids(
    lamost: pd.DataFrame | None, links: pd.DataFrame, kepler: pd.DataFrame
) -> pd.DataFrame:
    columns = ["obsid", *(c for c in ("gaia_source_id", "designation") if _has(lamost, c))]
    spectra = lamost[columns] if lamost is not None else pd.DataFrame({"obsid": []})
    spectra = spectra.astype({"obsid": np.int64}).merge(links, on="obsid", how="outer")
    kic = spectra["kic"].astype("Int64")
    from_kepler = kic.map(kepler.set_index("kic")["star_id"])
    gaia = _digits(spectra["gaia_source_id"]) if "gaia_source_id" in spectra else None
    designation = None
    if "designation" in spectra:
        text = spectra["designation"].astype("string[pyarrow]").str.strip()
        text = text.str.removeprefix("LAMOST ")
        designation = "lamost:" + text.mask(text == "")
    candidates = [("gaia_kepler", from_kepler), ("gaia_lamost", gaia), ("designation", designation)]
    star = pd.Series(None, index=spectra.index, dtype=object)
    source = pd.Series(None, index=spectra.index, dtype=object)
    for name, values in candidates:
        if values is None:
            continue
        take = star.isna() & values.notna()
        star[take] = values[take].astype(str)
        source[take] = name
    # A matched KIC's id is kic:<kic> when it has no Gaia id: record that it came from the KIC.
    source[source.eq("gaia_kepler") & star.str.startswith("kic:", na=False)] = "kic"
    unknown = star.isna()
    star[unknown] = "obsid:" + spectra.loc[unknown, "obsid"].astype(str)
    source[unknown] = "obsid"
    return pd.DataFrame(
        {"obsid": spectra["obsid"], "kic": kic, "star_id": star, "id_source": source}
    ).sort_values("obsid", ignore_index=True)


def _has(frame: pd.DataFrame | None, column: str) -> bool:
    return frame is not None and column in frame.columns


def _digits(ids: pd.Series) -> pd.Series:
    """Gaia ids as digit strings, None when missing; floats are refused (they lost digits)."""
    if pd.api.types.is_float_dtype(ids.dtype):
        raise TypeError(f"gaia_source_id is {ids.dtype}; use int64 or digit strings")
    text = ids.astype("string[pyarrow]").str.strip()
    text = text.where(text.str.fullmatch(r"\d+").fillna(False))
    return text.astype(object).where(text.notna(), None)
