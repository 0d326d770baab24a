"""Publish a new LAMOST data release into an existing synthetic sky mirror.

Real surveys publish releases that add and revise; they do not redraw the sky. A release
`dr<N>` newer than every release of the mirror adds (docs/contracts.md, "Mirror layout"):

- repeat spectra of ~10% of the stars that already have spectra;
- ~10% new stars: Kepler targets (new KICs, light curves in the Kepler tree) that LAMOST
  observes for the first time, drawn with the physics of `population`;
- `lamost/<name>/v2.0/`: the previous release's spectra (hard links) plus the new ones (DR9
  COADD layout, DATA_V 'LAMOST DR<N>'), and its catalog: the previous release's rows verbatim
  plus the new rows;
- the new stars' rows in the Kepler-Gaia table, and the new rows of the truth tables, which
  gain a `release` column.

Every other file of the mirror stays byte-identical. The population is read from the truth
tables, never redrawn; what the release draws comes from streams keyed by (seed, "release",
name, ...), so the same seed and name give byte-identical files whatever `workers` is.
"""

from __future__ import annotations

import gzip
import io
import os
import re
import shutil
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd
from astropy.io import fits
from fsspec.implementations.local import LocalFileSystem

from desa.sky.catalogs import CATALOG_PATHS
from desa.sky.formats import csv_bytes
from desa.sky.lamost_catalog import LAMOST_MISSING, lamost_stellar
from desa.sky.mirror import (
    LAMOST_FITS_DIR,
    TRUTH_DIR,
    _parquet_bytes,
    _run,
    _write_lightcurves,
    _write_spectra,
)
from desa.sky.population import (
    _OUTSIDE_FIELDS,
    KEPLER_FIELD_DEC,
    KEPLER_FIELD_RA,
    KEPLER_FIELD_RADIUS_DEG,
    SkyConfig,
    _astrometry_ruwe,
    _binaries,
    _cmd_class,
    _disc,
    _gaia_detections,
    _hex_fields,
    _kic_values,
    _kinematics,
    _lamost_target,
    _photometry,
    _plan_position,
    _quarters,
    _rotation,
    _stellar_parameters,
    assign_visits,
    rng_for,
)
from desa.sky.stellar_catalogs import kepler_gaia
from storage.publish import atomic_write_bytes

_, ORIGINAL_RELEASE, VERSION, _ = LAMOST_FITS_DIR.split("/")  # the build's "dr8", "v2.0"
REPEAT_FRACTION = 0.10  # of the stars with spectra: observed again
NEW_STAR_FRACTION = 0.10  # of the stars: new Kepler targets LAMOST observes for the first time
# Input-catalog entries without an LK link and without a Gaia id (as `lamost_stellar`, ~1/8).
_NO_GAIA_FRACTION = 0.125
_PLANS_PER_FIELD = 3  # a new star gets up to 3 spectra, each in its own plan
_RELEASE_NAME = re.compile(r"^dr(\d+)$")
_TRUTH_TABLES = ("stars", "spectra", "lightcurves")
# The catalogs a release changes: a new LAMOST catalog, and new rows in the Kepler-Gaia table.
UPDATED_CATALOGS = ("lamost_lrs_stellar", "kepler_gaia")


@dataclass
class ReleaseSummary:
    """What `publish_release` added (paths relative to the mirror root)."""

    name: str
    previous: str  # the newest release before this one
    n_spectra: int  # new spectrum files
    n_repeat_spectra: int  # of them, of stars observed in earlier releases
    n_new_stars: int
    n_lightcurve_files: int  # new light-curve files (of the new stars)
    n_carried_spectra: int  # the previous release's spectra, linked into the new tree
    catalog: str  # the new release's LRS stellar catalog
    updated_catalogs: list[str] = field(default_factory=list)


def release_number(name: str) -> int:
    """N of a release name `dr<N>`; ValueError for anything else."""
    match = _RELEASE_NAME.match(name)
    if match is None:
        raise ValueError(f"a LAMOST release is named dr<N> (e.g. dr9), not {name!r}")
    return int(match.group(1))


def release_dir(name: str) -> str:
    return f"lamost/{name}/{VERSION}"


def release_catalog_path(name: str) -> str:
    """Mirror path of a release's LRS stellar catalog (the build's is `CATALOG_PATHS`')."""
    return f"{release_dir(name)}/catalog/{name}_{VERSION}_LRS_stellar.csv.gz"


def published_releases(mirror_dir: Path) -> list[str]:
    """The releases under `<mirror>/lamost/`, oldest first."""
    lamost = Path(mirror_dir) / "lamost"
    names = [p.name for p in lamost.iterdir() if p.is_dir() and _RELEASE_NAME.match(p.name)]
    return sorted(names, key=release_number)


def publish_release(mirror_dir: Path, name: str, *, seed: int, workers: int = 1) -> ReleaseSummary:
    """Publish LAMOST release `name` (`dr<N>`, newer than every release of the mirror) into
    the synthetic sky at `mirror_dir`, built by `build_sky` with this `seed`.

    Writes new files only, except the Kepler-Gaia table and the truth tables, which are
    replaced (atomically) by versions with added rows. Raises FileNotFoundError when the folder
    holds no sky, ValueError when `name` is not newer than the newest release or `seed` is not
    the sky's. `workers` > 1 writes the FITS files in that many processes (same output).
    """
    root = Path(mirror_dir)
    previous = _previous_release(root, name)
    truth = _read_truth(root)
    spectra = truth["spectra"]
    _check_seed(truth["stars"], spectra, seed)
    stars, new_stars, visits = _draw_release(truth["stars"], spectra, seed, name)

    n_carried = _carry_spectra(root, previous, name)
    new_spectra, new_lightcurves = _write_files(root, name, stars, new_stars, visits, seed, workers)
    _write_release_catalog(root, previous, name, stars, spectra, new_spectra, seed)
    _append_kepler_gaia(root, new_stars, rng_for(seed, "release", name, "catalog", "kepler_gaia"))
    tables = {
        "stars": stars,
        "spectra": pd.concat([spectra, new_spectra], ignore_index=True),
        "lightcurves": pd.concat([truth["lightcurves"], new_lightcurves], ignore_index=True),
    }
    for table, frame in tables.items():
        path = str(root / TRUTH_DIR / f"{table}.parquet")
        atomic_write_bytes(LocalFileSystem(), path, _parquet_bytes(frame))

    return ReleaseSummary(
        name=name,
        previous=previous,
        n_spectra=len(new_spectra),
        n_repeat_spectra=int(new_spectra["star_id"].isin(spectra["star_id"]).sum()),
        n_new_stars=len(new_stars),
        n_lightcurve_files=len(new_lightcurves),
        n_carried_spectra=n_carried,
        catalog=release_catalog_path(name),
        updated_catalogs=list(UPDATED_CATALOGS),
    )


# ---------------------------------------------------------------------------------------------
# The sky as published so far


def _previous_release(root: Path, name: str) -> str:
    """The newest release of the sky at `root`, which `name` must follow."""
    number = release_number(name)
    if not (root / TRUTH_DIR / "stars.parquet").is_file():
        raise FileNotFoundError(f"{root} holds no synthetic sky: run `desa demo-sky` first")
    previous = published_releases(root)[-1]
    if number <= release_number(previous):
        raise ValueError(f"release {name} is not newer than {previous}, the newest in {root}")
    return previous


def _read_truth(root: Path) -> dict[str, pd.DataFrame]:
    """The truth tables, with the `release` column (the build's rows: the original release)."""
    out = {}
    for table in _TRUTH_TABLES:
        frame = pd.read_parquet(root / TRUTH_DIR / f"{table}.parquet")
        if "release" not in frame.columns:
            frame["release"] = ORIGINAL_RELEASE
        out[table] = frame
    return out


def _check_seed(stars: pd.DataFrame, spectra: pd.DataFrame, seed: int) -> None:
    """Repeat spectra are taken at the star's LAMOST target, drawn from the sky's seed: refuse
    another seed rather than move the targets."""
    first = spectra.drop_duplicates("star_id").set_index("star_id")["designation"]
    for star in stars[stars["star_id"].isin(first.index)].itertuples(index=False):
        if _lamost_target(star, seed)["designation"] != first[star.star_id]:
            raise ValueError(f"seed {seed} is not the seed this sky was built with")


def _max_quarters(stars: pd.DataFrame) -> int:
    """The sky's `max_quarters`, from the longest run of quarters of its stars (Q0 in front
    and a missing quarter do not shorten a run; Q0-Q17 is the whole mission)."""
    longest = 2
    for text in stars.loc[stars["is_kepler_target"], "quarters"]:
        quarters = [int(q) for q in text.split(",")]
        run = max(quarters) - min(q for q in quarters if q > 0) + 1
        longest = max(longest, 18 if run == 17 and 0 in quarters else run)
    return longest


# ---------------------------------------------------------------------------------------------
# What the release draws


def _draw_release(
    stars: pd.DataFrame, spectra: pd.DataFrame, seed: int, name: str
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(every star with updated spectrum counts, the new stars, the release's visits)."""
    cfg = SkyConfig(n_stars=len(stars), max_quarters=_max_quarters(stars))
    new_stars = _draw_new_stars(cfg, seed, name, stars)
    repeat = _pick_repeats(stars, seed, name)
    observed = pd.concat([stars[repeat].assign(n_spectra=1), new_stars], ignore_index=True)
    visits = _draw_release_visits(observed, spectra, seed, name)
    counted = stars.assign(n_spectra=stars["n_spectra"] + repeat)
    return pd.concat([counted, new_stars], ignore_index=True), new_stars, visits


def _fresh_ints(rng: np.random.Generator, lo: int, hi: int, n: int, taken: set[int]) -> np.ndarray:
    """`n` distinct integers in [lo, hi) none of which is in `taken`, sorted."""
    out: set[int] = set()
    while len(out) < n:
        out.update(v for v in map(int, rng.integers(lo, hi, n - len(out))) if v not in taken)
    return np.array(sorted(out), dtype=np.int64)


def _draw_new_stars(cfg: SkyConfig, seed: int, name: str, stars: pd.DataFrame) -> pd.DataFrame:
    """New Kepler targets in the field, drawn as `draw_stars` draws the population (no
    archetypes, no close pairs); truth rows with the columns of `stars`."""
    rng = rng_for(seed, "release", name, "stars")
    n = max(2, round(NEW_STAR_FRACTION * len(stars)))
    star_id = int(stars["star_id"].max()) + 1 + np.arange(n, dtype=np.int64)
    kind = np.full(n, "kepler")
    role = np.full(n, "", dtype=object)
    stage = rng.choice(np.array(["dwarf", "subgiant", "giant"]), n, p=_stage_fractions(cfg))
    p = _stellar_parameters(rng, stage, role)
    b = _binaries(rng, p, stage, role, cfg)
    phot = _photometry(rng, p, b, kind, role)
    ra, dec = _disc(rng, n, KEPLER_FIELD_RA, KEPLER_FIELD_DEC, KEPLER_FIELD_RADIUS_DEG)
    kic, gaia = _new_ids(rng, stars, dec)
    kin = _kinematics(rng, ra, dec, phot["dist_pc"], p["age_gyr"])
    ruwe = _astrometry_ruwe(rng, b, phot["dist_pc"], n)
    nss_type, sb9 = _gaia_detections(rng, b, phot, ruwe)
    rot = _rotation(rng, p, b, stage, phot["kepmag"])
    n_visits = np.where(
        rng.uniform(0, 1, n) < cfg.repeat_fraction, rng.choice([2, 3], n, p=[0.65, 0.35]), 1
    )
    lk_link = rng.uniform(0, 1, n) < cfg.lk_link_fraction
    kicv = _kic_values(rng, p)
    quarters = [
        _quarter_text(rng_for(seed, "release", name, "quarters", i), cfg) for i in star_id.tolist()
    ]
    off_centre = np.hypot((ra - KEPLER_FIELD_RA) * np.cos(np.radians(dec)), dec - KEPLER_FIELD_DEC)
    b.pop("_m_tot")
    frame = pd.DataFrame(
        {
            "star_id": star_id,
            "kind": kind,
            "archetype": role.astype(str),
            "kic": pd.array(kic, dtype="Int64"),
            "gaia_source_id": gaia,
            "ra": ra,
            "dec": dec,
            "in_kepler_field": off_centre <= KEPLER_FIELD_RADIUS_DEG,
            "is_kepler_target": True,
            "has_spectrum": True,
            "n_spectra": n_visits,
            "lk_link": lk_link,
            "close_pair": -1,
            "evol_stage": stage,
            "cmd_class": _cmd_class(stage, p, b),
            **p,
            **phot,
            **b,
            "ruwe": ruwe,
            "nss_type": nss_type,
            "sb9": sb9,
            **kin,
            **rot,
            **kicv,
            "quarters": quarters,
            "release": name,
        }
    )
    return frame[stars.columns]


def _new_ids(
    rng: np.random.Generator, stars: pd.DataFrame, dec: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(KIC, Gaia DR3 id) of new stars at these declinations: unused ones, KICs growing with
    declination and Gaia ids from the Kepler field's range, as `draw_stars` gives them."""
    n = dec.size
    kic = np.empty(n, dtype=np.int64)
    taken_kic = set(stars["kic"].dropna().astype(np.int64).tolist())
    kic[np.argsort(dec, kind="stable")] = _fresh_ints(rng, 1_000_000, 13_000_000, n, taken_kic)
    taken_gaia = set(stars["gaia_source_id"].tolist())
    gaia = _fresh_ints(rng, 2_050_000_000_000_000_000, 2_140_000_000_000_000_000, n, taken_gaia)
    return kic, rng.permutation(gaia)


def _quarter_text(rng: np.random.Generator, cfg: SkyConfig) -> str:
    """A Kepler star's quarters as the truth table spells them ("q,q,q")."""
    return ",".join(map(str, _quarters(rng, cfg.max_quarters)))


def _stage_fractions(cfg: SkyConfig) -> list[float]:
    return [
        1 - cfg.subgiant_fraction - cfg.giant_fraction,
        cfg.subgiant_fraction,
        cfg.giant_fraction,
    ]


def _pick_repeats(stars: pd.DataFrame, seed: int, name: str) -> pd.Series:
    """Which stars LAMOST observes once more in this release: ~10% of those with spectra."""
    rng = rng_for(seed, "release", name, "repeats")
    seen = stars.loc[stars["has_spectrum"], "star_id"].to_numpy()
    chosen = rng.choice(seen, max(1, round(REPEAT_FRACTION * len(seen))), replace=False)
    return stars["star_id"].isin(chosen)


def _release_plans(
    observed: pd.DataFrame, spectra: pd.DataFrame, rng: np.random.Generator, name: str
) -> pd.DataFrame:
    """Plans of the release's observing season: the year after the latest spectrum, in every
    LK field and the outside fields of the observed stars; COADD layout, DATA_V 'LAMOST DR<N>';
    plan serials after the largest so far, so obsids keep growing with time."""
    outside = observed.loc[observed["kind"] == "outside", ["ra", "dec"]].to_numpy()
    out_centres = sorted(
        {min(_OUTSIDE_FIELDS, key=lambda c: np.hypot(c[0] - r, c[1] - d)) for r, d in outside}
    )
    fields = [("KP", (5, 6, 9, 10), c) for c in _hex_fields()]
    fields += [("EG", (10, 11, 12, 1, 2, 3), c) for c in out_centres]
    start = pd.Timestamp(spectra["date_obs"].max()).normalize() + pd.Timedelta(days=1)
    taken = set(spectra["planid"])
    rows = []
    for f, (prefix, months, (ra, dec)) in enumerate(fields):
        for _ in range(_PLANS_PER_FIELD):
            day = start + pd.Timedelta(days=int(rng.integers(0, 365)))
            while day.month not in months:
                day = start + pd.Timedelta(days=int(rng.integers(0, 365)))
            stem = f"{prefix}{_plan_position(ra, dec)}{rng.choice(list('VBM'))}"
            planid = next(f"{stem}{k:02d}" for k in range(1, 100) if f"{stem}{k:02d}" not in taken)
            taken.add(planid)
            rows.append(
                {
                    "field": f,
                    "field_ra": ra,
                    "field_dec": dec,
                    "planid": planid,
                    "layout": "coadd",
                    "data_v": f"LAMOST DR{release_number(name)}",
                    "date_obs": day + pd.Timedelta(hours=float(rng.uniform(11.0, 20.0))),
                    "helio_rv": float(rng.uniform(-30.0, 30.0)),
                }
            )
    plans = pd.DataFrame(rows)
    plans["date_obs"] = plans["date_obs"].dt.floor("s")
    plans = plans.sort_values("date_obs", kind="stable").reset_index(drop=True)
    last_serial = int(spectra["obsid"].max()) // 100_000
    plans["serial"] = last_serial + np.cumsum(rng.integers(1, 40, len(plans)))
    return plans


def _draw_release_visits(
    observed: pd.DataFrame, spectra: pd.DataFrame, seed: int, name: str
) -> pd.DataFrame:
    """The release's visit rows (those of `draw_visits`), numbered after each star's earlier
    visits."""
    rng = rng_for(seed, "release", name, "visits")
    plans = _release_plans(observed, spectra, rng, name)
    visits = assign_visits(observed, plans, rng, seed)
    earlier = visits["star_id"].map(spectra["star_id"].value_counts()).fillna(0)
    visits["visit"] += earlier.astype(np.int64)
    return visits


# ---------------------------------------------------------------------------------------------
# Files


def _write_files(
    root: Path,
    name: str,
    stars: pd.DataFrame,
    new_stars: pd.DataFrame,
    visits: pd.DataFrame,
    seed: int,
    workers: int,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Write the new spectra and the new stars' light curves; their truth rows."""
    # One integer seed per release feeds the keyed per-file streams of the mirror's writers.
    files_seed = int(rng_for(seed, "release", name, "files").integers(2**63))
    write_spectra = partial(
        _write_spectra,
        root=root,
        stars=stars,
        seed=files_seed,
        fits_dir=f"{release_dir(name)}/fits",
    )
    write_lightcurves = partial(_write_lightcurves, root=root, seed=files_seed)
    return (
        _run(write_spectra, visits, workers).assign(release=name),
        _run(write_lightcurves, new_stars, workers).assign(release=name),
    )


def _carry_spectra(root: Path, previous: str, name: str) -> int:
    """Hard-link every spectrum of the previous release into the new release's tree (copies
    where links cannot be made, e.g. across devices); returns how many."""
    source = root / release_dir(previous) / "fits"
    target = root / release_dir(name) / "fits"
    count = 0
    for path in sorted(p for p in source.rglob("*") if p.is_file()):
        dest = target / path.relative_to(source)
        dest.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(path, dest)
        except OSError:
            shutil.copyfile(path, dest)
        count += 1
    return count


def _write_release_catalog(
    root: Path,
    previous: str,
    name: str,
    stars: pd.DataFrame,
    spectra: pd.DataFrame,
    new_spectra: pd.DataFrame,
    seed: int,
) -> None:
    """The previous release's catalog text verbatim, then the new spectra's rows."""
    rng = rng_for(seed, "release", name, "catalog", "lamost_lrs_stellar")
    built = lamost_stellar(stars, new_spectra, rng)
    rows = pd.read_csv(io.BytesIO(gzip.decompress(built)), dtype=str, keep_default_na=False)
    star_of = new_spectra.set_index("obsid")["star_id"]
    gaia = _lamost_gaia_ids(root, previous, stars, spectra, new_spectra["star_id"], rng)
    rows["gaia_source_id"] = rows["obsid"].astype(np.int64).map(star_of).map(gaia).to_numpy()
    old = gzip.decompress((root / release_catalog_path(previous)).read_bytes())
    new = csv_bytes(rows).split(b"\n", 1)[1]  # without the header line
    data = gzip.compress(old + new, mtime=0)  # mtime 0: the same bytes for the same rows
    atomic_write_bytes(LocalFileSystem(), str(root / release_catalog_path(name)), data)


def _lamost_gaia_ids(
    root: Path,
    previous: str,
    stars: pd.DataFrame,
    spectra: pd.DataFrame,
    new_ids: pd.Series,
    rng: np.random.Generator,
) -> pd.Series:
    """The Gaia id each observed star's input-catalog entry prints (text, by star_id): what
    earlier releases printed for known stars; for new ones the truth, or -9999 for ~1/8 of
    those without an LK link (as `lamost_stellar`)."""
    printed = pd.read_csv(
        root / release_catalog_path(previous),
        usecols=["obsid", "gaia_source_id"],
        dtype={"gaia_source_id": str},
    )
    printed["star_id"] = printed["obsid"].map(spectra.set_index("obsid")["star_id"])
    known = printed.drop_duplicates("star_id").set_index("star_id")["gaia_source_id"]
    new = stars[stars["star_id"].isin(new_ids) & ~stars["star_id"].isin(known.index)]
    new = new.set_index("star_id")
    hidden = ~new["lk_link"] & (rng.uniform(0, 1, len(new)) < _NO_GAIA_FRACTION)
    drawn = new["gaia_source_id"].astype(str).where(~hidden, str(LAMOST_MISSING))
    return pd.concat([known, drawn])


def _append_kepler_gaia(root: Path, new_stars: pd.DataFrame, rng: np.random.Generator) -> None:
    """Add the new stars' rows to the Kepler-Gaia table; the old rows keep their values."""
    path = root / CATALOG_PATHS["kepler_gaia"]
    added = kepler_gaia(new_stars, pd.DataFrame(), rng)
    with fits.open(path) as old, fits.open(io.BytesIO(added)) as new:
        rows = np.concatenate([np.asarray(old[1].data), np.asarray(new[1].data)])
    order = np.lexsort((rows["kepler_gaia_ang_dist"], rows["kepid"]))  # the published order
    buffer = io.BytesIO()
    fits.HDUList([fits.PrimaryHDU(), fits.BinTableHDU(data=rows[order])]).writeto(buffer)
    atomic_write_bytes(LocalFileSystem(), str(path), buffer.getvalue())
