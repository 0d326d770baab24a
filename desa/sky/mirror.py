"""Build the synthetic sky: an archive mirror in the real formats plus the truth behind it.

Layout under `out_dir` (docs/contracts.md, "Mirror layout"):

- `lamost/dr8/v2.0/fits/{obsdate:%Y%m%d}/{planid}/spec-{lmjd}-{planid}_sp{spid}-{fiberid}.fits.gz`
  (about half in the old 5xN image layout labelled DR5-DR8, half in the DR9 COADD layout);
- `kepler/lightcurves/{kic9[:4]}/{kic9}/kplr{kic9}-{stamp}_llc.fits`;
- every catalog of docs/catalogs.md at its mirror path (`catalogs.CATALOG_PATHS`);
- `truth/stars.parquet` (one row per star), `truth/spectra.parquet` (one row per spectrum
  file), `truth/lightcurves.parquet` (one row per light-curve file).

Deterministic: every random number comes from a stream keyed by (seed, purpose, object), so the
same seed gives byte-identical catalogs and truth tables and identical FITS files.
"""

from __future__ import annotations

import io
import multiprocessing
import shutil
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from fsspec.implementations.local import LocalFileSystem

from desa.sky.catalogs import CATALOG_PATHS, write_catalogs
from desa.sky.kepler_files import write_llc
from desa.sky.lamost_files import lamost_filename, write_lamost_spectrum
from desa.sky.lightcurves import LightCurveParams, simulate_light_curve
from desa.sky.population import SkyConfig, draw_stars, draw_visits, rng_for
from desa.sky.spectra import Companion, observe
from desa.surveys.kepler import QUARTERS, llc_filename
from storage.fingerprint import sha256_file
from storage.publish import atomic_write_bytes
from storage.state import StageResult

LAMOST_FITS_DIR = "lamost/dr8/v2.0/fits"
KEPLER_DIR = "kepler/lightcurves"
TRUTH_DIR = "truth"

# Processing dates and pipeline versions of the real files per release (data_sources.md §1.4-1.5:
# DR8 v1.0 files dated 2021-03, DR9 files 2023-09, VERSPIPE v2.9.7 / v2.9.8).
_RELEASE_FILE_INFO = {
    "LAMOST DR5": ("2017-09-15", "v2.9.7"),
    "LAMOST DR6": ("2018-09-20", "v2.9.7"),
    "LAMOST DR7": ("2019-09-20", "v2.9.7"),
    "LAMOST DR8": ("2021-03-05", "v2.9.8"),
    "LAMOST DR9": ("2023-09-12", "v2.9.8"),
}
_KEPLER_FILE_DATE = "2015-09-26"  # DR25 processing


@dataclass
class SkySummary:
    """What `build_sky` wrote (counts; paths relative to `root`)."""

    root: str
    seed: int
    n_stars: int
    n_kepler: int  # Kepler targets (with KIC and light curves)
    n_kepler_only: int  # Kepler targets without a LAMOST spectrum
    n_lamost_stars: int  # stars with at least one spectrum
    n_outside_field: int  # LAMOST stars outside the Kepler field
    n_repeat_stars: int  # stars with 2-3 spectra
    n_spectra: int
    n_spectra_image: int  # old 5xN image layout (DR5-DR8)
    n_spectra_coadd: int  # COADD table layout (DR9)
    n_lightcurve_files: int
    n_binaries: int
    n_eclipsing: int
    n_catalogs: int
    catalogs: dict[str, str] = field(default_factory=dict)


def lamost_relpath(
    obsdate: str,
    planid: str,
    lmjd: int,
    spid: int,
    fiberid: int,
    *,
    fits_dir: str = LAMOST_FITS_DIR,
) -> str:
    """Mirror path of a spectrum file (LAMOST archive tree, laspec `lamost_filepath`);
    `fits_dir` names the release's tree (a later release publishes under its own)."""
    day = obsdate.replace("-", "")
    return f"{fits_dir}/{day}/{planid}/{lamost_filename(lmjd, planid, spid, fiberid)}"


def release_file_info(data_v: str) -> tuple[str, str]:
    """(DATE, VERSPIPE) of a release's files; those after DR9 are dated a year apart."""
    if data_v in _RELEASE_FILE_INFO:
        return _RELEASE_FILE_INFO[data_v]
    number = int(data_v.removeprefix("LAMOST DR"))
    date, verspipe = _RELEASE_FILE_INFO["LAMOST DR9"]
    return f"{int(date[:4]) + number - 9}{date[4:]}", verspipe


def kepler_relpath(kic: int, stamp: str) -> str:
    """Mirror path of a long-cadence file (MAST tree)."""
    kic9 = f"{int(kic):09d}"
    return f"{KEPLER_DIR}/{kic9[:4]}/{kic9}/{llc_filename(kic, stamp)}"


def _lamost_header(visit: Any, snr: dict[str, float], rng: np.random.Generator) -> dict[str, Any]:
    date, verspipe = release_file_info(visit.data_v)
    start = pd.Timestamp(visit.date_obs) + pd.Timedelta(hours=8)  # DATE-BEG/END: local time
    n_exp = int(rng.integers(2, 5))
    exptime = 600.0 * n_exp
    half = pd.Timedelta(seconds=exptime / 2)
    return {
        "OBSID": int(visit.obsid),
        "DATA_V": visit.data_v,
        "DATE": date,
        "DATE-OBS": visit.date_obs,
        "DATE-BEG": (start - half).strftime("%Y-%m-%dT%H:%M:%S.0"),
        "DATE-END": (start + half).strftime("%Y-%m-%dT%H:%M:%S.0"),
        "LMJD": int(visit.lmjd),
        "MJD": int(visit.mjd),
        "PLANID": visit.planid,
        "RA": float(visit.ra),
        "DEC": float(visit.dec),
        "RA_OBS": float(visit.ra_obs),
        "DEC_OBS": float(visit.dec_obs),
        "OFFSET": bool(visit.offset),
        "OFFSET_V": float(visit.offset_v),
        "DESIG": f"LAMOST {visit.designation}",
        "FIBERID": int(visit.fiberid),
        "OBJTYPE": "Star",
        "TSOURCE": visit.tsource,
        "TCOMMENT": visit.tcomment,
        "TFROM": visit.tfrom,
        "RADECSYS": "FK5",
        "EQUINOX": 2000.0,
        "NEXP": n_exp,
        "EXPTIME": exptime,
        "SPID": int(visit.spid),
        "SEEING": round(float(rng.uniform(2.5, 4.5)), 1),
        "HELIO_RV": float(visit.helio_rv),
        "VERSPIPE": verspipe,
        "CLASS": "STAR",
        "SUBCLASS": visit.subclass,
        "Z": float(visit.z),
        "Z_ERR": float(visit.z_err),
        **{f"SNR{b.upper()}": snr[f"snr{b}"] for b in "ugriz"},
    }


def _companion(star: pd.Series, rv2: float) -> Companion | None:
    """The unresolved companion of a binary on the night of a visit (None for a single)."""
    if not star["is_binary"]:
        return None
    return Companion(
        teff=float(star["teff2"]),
        logg=float(star["logg2"]),
        radius_ratio=float(star["radius2"] / star["radius"]),
        rv_kms=float(rv2),
    )


def _write_spectra(
    visits: pd.DataFrame,
    *,
    root: Path,
    stars: pd.DataFrame,
    seed: int,
    fits_dir: str = LAMOST_FITS_DIR,
) -> pd.DataFrame:
    """Synthesize and write these spectra under `fits_dir`; returns the visits with SNRs, path
    and NORM."""
    by_star = stars.set_index("star_id")
    rows = []
    for visit in visits.itertuples(index=False):
        star = by_star.loc[visit.star_id]
        rng = rng_for(seed, "spectrum", int(visit.obsid))
        spec = observe(
            star["teff"],
            star["logg"],
            star["feh"],
            visit.rv,
            snr_g=visit.snr_g_target,
            rng=rng,
            start_pixel=visit.start_pixel,
            n_pixels=visit.n_pixels,
            helio_rv_kms=visit.helio_rv,
            log_rhk=star["log_rhk"],
            companion=_companion(star, visit.rv2),
        )
        snr = {f"snr{b}": round(v, 2) for b, v in spec.snr.items()}
        # DR9 files without a normalized spectrum have NORM=0 (real obsids 101002, 101012).
        has_norm = visit.layout == "coadd" and rng.uniform() < 0.9
        relpath = lamost_relpath(
            visit.obsdate, visit.planid, visit.lmjd, visit.spid, visit.fiberid, fits_dir=fits_dir
        )
        header = _lamost_header(visit, snr, rng)
        write_lamost_spectrum(
            root / relpath,
            layout=visit.layout,
            wavelength=spec.wavelength,
            flux=spec.flux,
            ivar=spec.ivar,
            andmask=spec.andmask,
            ormask=spec.ormask,
            header=header,
            normalization=spec.normalization if has_norm else None,
        )
        rows.append({**snr, "norm": int(has_norm), "path": relpath})
    return pd.concat([visits.reset_index(drop=True), pd.DataFrame(rows)], axis=1)


def _kepler_header(star: Any) -> dict[str, Any]:
    """KIC values in the primary header, as the real files carry them."""
    pm_ra, pm_dec = star.pmra / 1000.0, star.pmdec / 1000.0  # KIC proper motions in arcsec/yr
    return {
        "DATE": _KEPLER_FILE_DATE,
        "RA_OBJ": round(float(star.ra), 6),
        "DEC_OBJ": round(float(star.dec), 6),
        "PMRA": round(pm_ra, 4),
        "PMDEC": round(pm_dec, 4),
        "PMTOTAL": round(float(np.hypot(pm_ra, pm_dec)), 4),
        "KMAG": round(float(star.ks_mag), 3),
        "KEPMAG": round(float(star.kepmag), 3),
        "TEFF": int(star.kic_teff),
        "LOGG": float(star.kic_logg),
        "FEH": float(star.kic_feh),
        "EBMINUSV": round(float(star.av) / 3.1, 3),
        "AV": round(float(star.av), 3),
        "RADIUS": float(star.kic_radius),
    }


def _write_lightcurves(kepler: pd.DataFrame, *, root: Path, seed: int) -> pd.DataFrame:
    """Simulate and write the light-curve files of these Kepler stars; one row per file."""
    rows = []
    for star in kepler.itertuples(index=False):
        kic = int(star.kic)
        quarters = [int(q) for q in star.quarters.split(",")]
        curves = simulate_light_curve(
            LightCurveParams.from_truth(star), quarters, rng_for(seed, "lightcurve", kic)
        )
        header = _kepler_header(star)
        for lc in curves:
            stamp = QUARTERS[lc.quarter].stamps[0]
            relpath = kepler_relpath(kic, stamp)
            write_llc(
                root / relpath,
                kic=kic,
                quarter=lc.quarter,
                time=lc.time,
                cadenceno=lc.cadenceno,
                sap_flux=lc.sap_flux,
                sap_flux_err=lc.sap_flux_err,
                pdcsap_flux=lc.pdcsap_flux,
                pdcsap_flux_err=lc.pdcsap_flux_err,
                sap_quality=lc.sap_quality,
                header=header,
            )
            rows.append(
                {
                    "kic": kic,
                    "star_id": int(star.star_id),
                    "quarter": lc.quarter,
                    "stamp": stamp,
                    "n_rows": int(lc.time.size),
                    "path": relpath,
                }
            )
    return pd.DataFrame(rows)


def _parquet_bytes(frame: pd.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    return buffer.getvalue()


def _run(
    job: Callable[[pd.DataFrame], pd.DataFrame], frame: pd.DataFrame, workers: int
) -> pd.DataFrame:
    """`job` over row chunks of `frame`, in `workers` processes when > 1. Every object draws
    from its own keyed random stream and results come back in order, so the output does not
    depend on `workers`."""
    if workers <= 1:
        return job(frame)
    chunks = [frame.iloc[idx] for idx in np.array_split(np.arange(len(frame)), 4 * workers)]
    # spawn: no forked copies of library threads (pyarrow, astropy) in the workers.
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        parts = list(pool.map(job, chunks))
    return pd.concat(parts, ignore_index=True)


def _clear_previous(root: Path) -> None:
    """Remove what an earlier build wrote (only the generator's own top-level folders), so a
    smaller or different sky leaves no stale files behind."""
    owned = {TRUTH_DIR, "lamost", "kepler"} | {p.split("/")[0] for p in CATALOG_PATHS.values()}
    if not (root / TRUTH_DIR / "stars.parquet").is_file():
        return
    for name in sorted(owned):
        target = root / name
        if target.is_dir():
            shutil.rmtree(target)


def build_sky(
    out_dir: Path, *, n_stars: int = 300, seed: int = 7, max_quarters: int = 4, workers: int = 1
) -> SkySummary:
    """Write the whole synthetic mirror and its truth under `out_dir`.

    `n_stars` scales everything (Kepler targets ~88%, LAMOST-only stars the rest);
    `max_quarters` bounds the Kepler quarters per star (2..18; each light-curve file is ~0.5 MB,
    so the demo keeps a few per star); `workers` > 1 writes the FITS files in that many
    processes (same output).
    """
    root = Path(out_dir)
    config = SkyConfig(n_stars=n_stars, max_quarters=max_quarters)
    _clear_previous(root)
    stars = draw_stars(config, seed)
    visits = draw_visits(stars, seed)
    spectra = _run(partial(_write_spectra, root=root, stars=stars, seed=seed), visits, workers)
    kepler = stars[stars["is_kepler_target"]]
    lightcurves = _run(partial(_write_lightcurves, root=root, seed=seed), kepler, workers)
    catalogs = write_catalogs(root, stars, spectra, seed)
    for name, frame in (("stars", stars), ("spectra", spectra), ("lightcurves", lightcurves)):
        path = str(root / TRUTH_DIR / f"{name}.parquet")
        atomic_write_bytes(LocalFileSystem(), path, _parquet_bytes(frame))

    kepler = stars["is_kepler_target"]
    return SkySummary(
        root=str(root),
        seed=seed,
        n_stars=len(stars),
        n_kepler=int(kepler.sum()),
        n_kepler_only=int((kepler & ~stars["has_spectrum"]).sum()),
        n_lamost_stars=int(stars["has_spectrum"].sum()),
        n_outside_field=int((stars["kind"] == "outside").sum()),
        n_repeat_stars=int((stars["n_spectra"] > 1).sum()),
        n_spectra=len(spectra),
        n_spectra_image=int((spectra["layout"] == "image").sum()),
        n_spectra_coadd=int((spectra["layout"] == "coadd").sum()),
        n_lightcurve_files=len(lightcurves),
        n_binaries=int(stars["is_binary"].sum()),
        n_eclipsing=int(stars["is_eb"].sum()),
        n_catalogs=len(catalogs),
        catalogs=catalogs,
    )


def publish_sky(
    out_dir: Path, *, n_stars: int, seed: int, max_quarters: int, workers: int
) -> StageResult:
    """The demo-sky stage: `build_sky`, fingerprinted by its truth table."""
    summary = build_sky(
        out_dir, n_stars=n_stars, seed=seed, max_quarters=max_quarters, workers=workers
    )
    truth = Path(out_dir) / TRUTH_DIR / "stars.parquet"
    counts = vars(summary)
    return StageResult(
        {"truth": sha256_file(LocalFileSystem(), str(truth))},
        {"mirror": str(out_dir), "truth": str(truth)},
        {k: v for k, v in counts.items() if isinstance(v, int | float | str)},
        [{"item": k, "value": v} for k, v in counts.items() if isinstance(v, int | float)],
    )
