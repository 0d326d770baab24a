"""Kepler long-cadence reader: same rows and values as lightkurve.read on all real files."""

from __future__ import annotations

import itertools
import logging
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from astropy.io import fits

from bench.real_data import real_data_dir
from desa.surveys.kepler import (
    LONG_CADENCE_DAYS,
    QUALITY_BITMASKS,
    QUARTERS,
    llc_filename,
    parse_llc_filename,
    quarter_of_stamp,
    read_quarter,
    resolve_bitmask,
    season_of_quarter,
)
from storage.errors import BadInputError

with warnings.catch_warnings():  # lightkurve warns at import that oktopus is not installed
    warnings.simplefilter("ignore", UserWarning)
    import lightkurve
    from lightkurve.utils import KeplerQualityFlags

_KEPLER_DIR = real_data_dir() / "kepler"
REAL_KEPLER = sorted(_KEPLER_DIR.glob("kplr*_llc.fits")) if _KEPLER_DIR.is_dir() else []


@pytest.fixture(autouse=True)
def _quiet_lightkurve() -> Any:
    """lightkurve logs a warning for each quarter with >20 % masked cadences."""
    logger = logging.getLogger("lightkurve")
    level = logger.level
    logger.setLevel(logging.ERROR)
    yield
    logger.setLevel(level)


def _plain(values: Any) -> np.ndarray:
    """lightkurve columns are (masked) Quantities; compare the stored numbers."""
    values = getattr(values, "value", values)
    return np.asarray(getattr(values, "unmasked", values))


def _assert_same_as_lightkurve(path: Path, bitmask: str | int) -> int:
    ours = read_quarter(path, quality_bitmask=bitmask)
    lc = lightkurve.read(str(path), quality_bitmask=bitmask)
    assert len(ours.time) == len(lc)
    assert ours.time.dtype == np.float64
    np.testing.assert_array_equal(ours.time, lc.time.value)
    np.testing.assert_array_equal(ours.flux, _plain(lc.flux))  # NaN == NaN here
    np.testing.assert_array_equal(ours.flux_err, _plain(lc.flux_err))
    np.testing.assert_array_equal(ours.quality, _plain(lc.quality))
    np.testing.assert_array_equal(ours.cadenceno, _plain(lc.cadenceno))
    assert ours.kic == lc.meta["TARGETID"]
    assert ours.quarter == lc.meta["QUARTER"]
    return len(lc)


@pytest.mark.parametrize("path", REAL_KEPLER, ids=lambda p: p.name)
def test_real_file_equals_lightkurve_default(real_data: Path, path: Path) -> None:
    _assert_same_as_lightkurve(path, "default")


@pytest.mark.parametrize("bitmask", ["none", "hard", "hardest", 128])
@pytest.mark.parametrize("path", REAL_KEPLER[::9], ids=lambda p: p.name)
def test_real_file_equals_lightkurve_other_bitmasks(
    real_data: Path, path: Path, bitmask: str | int
) -> None:
    _assert_same_as_lightkurve(path, bitmask)


def test_real_known_row_counts(real_data: Path) -> None:
    # SOURCES.md §4: KIC 2556081 Q2 4354 rows -> 4194 finite TIME -> 4075 default -> 4070 finite.
    q2 = _KEPLER_DIR / "kplr002556081-2009259160929_llc.fits"
    assert len(read_quarter(q2, "none").time) == 4194
    default = read_quarter(q2)
    assert len(default.time) == 4075
    assert np.isfinite(default.flux).sum() == 4070  # NaN-flux rows are kept, as lightkurve does
    every = read_quarter(q2, "none")
    assert every.time.min() == pytest.approx(169.5208, abs=1e-4)
    assert every.time.max() == pytest.approx(258.4675, abs=1e-4)
    # Kepler-90: finite TIME & PDCSAP = 4134 / 1008 / 4486 (exoplanet-ml kepler_io_test.py).
    finite = [
        int(np.isfinite(read_quarter(p, "none").flux).sum())
        for p in sorted(_KEPLER_DIR.glob("kplr011442793-*_llc.fits"))
    ]
    assert finite == [4134, 1008, 4486]


def test_real_totals_per_kic(real_data: Path) -> None:
    # SOURCES.md §4: rows after the default bitmask with finite PDCSAP, summed per KIC.
    expected = {
        2556081: 64794,
        7660594: 65263,
        8374877: 65263,
        10424789: 42645,
        11442793: 9628,
        5899262: 2093,
        8417738: 469,
    }
    totals: dict[int, int] = {}
    for path in REAL_KEPLER:
        quarter = read_quarter(path)
        totals[quarter.kic] = totals.get(quarter.kic, 0) + int(np.isfinite(quarter.flux).sum())
    assert totals == expected


def test_quarters_rederived_from_real_files(real_data: Path) -> None:
    seen: set[int] = set()
    for path in REAL_KEPLER:
        kic, stamp = parse_llc_filename(path)
        with fits.open(path) as hdul:
            header, table = hdul[0].header, hdul["LIGHTCURVE"]
            q = header["QUARTER"]
            info = QUARTERS[q]
            assert header["KEPLERID"] == kic
            assert quarter_of_stamp(stamp) == q
            assert stamp in info.stamps
            assert header["SEASON"] == season_of_quarter(q)
            assert table.header["TIMEDEL"] == LONG_CADENCE_DAYS
            cadenceno = table.data["CADENCENO"]
            assert cadenceno[0] == info.first_cadenceno
            assert np.all(np.diff(cadenceno) == 1)
            lc_start_bkjd = table.header["LC_START"] + 2400000.5 - 2454833
            assert lc_start_bkjd == pytest.approx(info.tstart_bkjd, abs=1e-8)
            assert abs(table.data["TIME"][0] - info.tstart_bkjd) < 0.005  # barycentric shift
            if stamp == info.stamps[0]:
                assert table.header["NAXIS2"] == info.n_cadences
            else:  # the partial Q4 file of KIC 11442793
                assert (q, table.header["NAXIS2"]) == (4, 1021)
        seen.add(q)
    assert seen == set(QUARTERS) == set(range(18))


def test_quarters_constants_are_consistent() -> None:
    ordered = [QUARTERS[q] for q in range(18)]
    for before, after in itertools.pairwise(ordered):
        # Quarters follow each other: cadence numbers and start times increase, and a quarter
        # ends before the next one starts.
        assert after.first_cadenceno >= before.first_cadenceno + before.n_cadences
        end = before.tstart_bkjd + (before.n_cadences - 1) * LONG_CADENCE_DAYS
        assert after.tstart_bkjd > end
    assert QUARTERS[4].stamps == ("2010078095331", "2010009091648")
    assert QUARTERS[2].tstart_bkjd == pytest.approx(169.5175, abs=1e-4)
    assert sum(len(q.stamps) for q in ordered) == 19


def test_bitmasks_match_lightkurve() -> None:
    assert dict(KeplerQualityFlags.OPTIONS) == QUALITY_BITMASKS
    assert resolve_bitmask("default") == KeplerQualityFlags.DEFAULT_BITMASK == 1130799
    assert resolve_bitmask(7) == 7
    for bad in ("soft", -1, 1.5, True):
        with pytest.raises(ValueError, match="quality_bitmask"):
            resolve_bitmask(bad)  # type: ignore[arg-type]


def test_filenames_and_stamps() -> None:
    name = llc_filename(2556081, "2009259160929")
    assert name == "kplr002556081-2009259160929_llc.fits"
    assert parse_llc_filename(name) == (2556081, "2009259160929")
    assert parse_llc_filename(Path("/x/0025/002556081") / name) == (2556081, "2009259160929")
    assert quarter_of_stamp("2010009091648") == 4
    assert quarter_of_stamp("2013131215648") == 17
    with pytest.raises(ValueError, match="unknown Kepler long-cadence stamp"):
        quarter_of_stamp("2009259160930")
    for bad in ("kplr2556081-2009259160929_llc.fits", "kplr002556081-2009259160929_slc.fits"):
        with pytest.raises(BadInputError, match="not a Kepler long-cadence file name"):
            parse_llc_filename(bad)
    assert [season_of_quarter(q) for q in (0, 1, 2, 3, 4, 5, 17)] == [3, 3, 0, 1, 2, 3, 3]
    with pytest.raises(ValueError):
        season_of_quarter(18)


# ---------------------------------------------------------------- bad input


def _primary(**cards: object) -> fits.PrimaryHDU:
    base: dict[str, object] = {"KEPLERID": 123, "QUARTER": 2}
    base.update(cards)
    return fits.PrimaryHDU(header=fits.Header({k: v for k, v in base.items() if v is not None}))


def _table(names: tuple[str, ...], name: str = "LIGHTCURVE") -> fits.BinTableHDU:
    formats = {"CADENCENO": "J", "SAP_QUALITY": "J", "TIME": "D"}
    cols = [fits.Column(n, formats.get(n, "E"), array=np.arange(4)) for n in names]
    return fits.BinTableHDU.from_columns(cols, name=name)


_ALL = ("TIME", "CADENCENO", "PDCSAP_FLUX", "PDCSAP_FLUX_ERR", "SAP_QUALITY")


def _assert_bad(path: Path, *words: str) -> None:
    with pytest.raises(BadInputError) as info:
        read_quarter(path)
    message = str(info.value)
    assert str(path) in message
    for word in words:
        assert word in message, message


def test_minimal_valid_file_reads(tmp_path: Path) -> None:
    path = tmp_path / "ok.fits"
    fits.HDUList([_primary(), _table(_ALL)]).writeto(path)
    got = read_quarter(path, "none")
    assert (got.kic, got.quarter, len(got.time)) == (123, 2, 4)
    # SAP_QUALITY 0, 1, 2, 3: bits 1 (AttitudeTweak) and 2 (SafeMode) are in "default".
    assert read_quarter(path).cadenceno.tolist() == [0]
    assert read_quarter(path, 2).cadenceno.tolist() == [0, 1]


def test_bad_empty_and_random(tmp_path: Path) -> None:
    empty = tmp_path / "empty.fits"
    empty.write_bytes(b"")
    _assert_bad(empty, "not a readable")
    noise = tmp_path / "noise.fits"
    noise.write_bytes(np.random.default_rng(2).bytes(3000))
    _assert_bad(noise, "not a readable")


def test_bad_no_lightcurve_hdu(tmp_path: Path) -> None:
    path = tmp_path / "primary_only.fits"
    _primary().writeto(path)
    _assert_bad(path, "no LIGHTCURVE extension")
    other = tmp_path / "renamed.fits"
    fits.HDUList([_primary(), _table(_ALL, name="FLUX")]).writeto(other)
    _assert_bad(other, "no LIGHTCURVE extension")


@pytest.mark.parametrize("missing", ["PDCSAP_FLUX", "SAP_QUALITY", "TIME"])
def test_bad_missing_column(tmp_path: Path, missing: str) -> None:
    path = tmp_path / "cols.fits"
    fits.HDUList([_primary(), _table(tuple(c for c in _ALL if c != missing))]).writeto(path)
    _assert_bad(path, "lacks column", missing)


@pytest.mark.parametrize(("key", "value"), [("KEPLERID", None), ("QUARTER", None)])
def test_bad_missing_card(tmp_path: Path, key: str, value: object) -> None:
    path = tmp_path / "cards.fits"
    fits.HDUList([_primary(**{key: value}), _table(_ALL)]).writeto(path)
    _assert_bad(path, f"no {key} card")


def test_bad_non_integer_card(tmp_path: Path) -> None:
    path = tmp_path / "cards.fits"
    fits.HDUList([_primary(KEPLERID="KIC 123"), _table(_ALL)]).writeto(path)
    _assert_bad(path, "KEPLERID", "not an integer")


@pytest.mark.filterwarnings("ignore::astropy.utils.exceptions.AstropyUserWarning")
@pytest.mark.parametrize("size", [5000, 20000, 100000, 466460])
def test_bad_truncated_real_file(real_data: Path, tmp_path: Path, size: int) -> None:
    # Cut in the primary header, in the LIGHTCURVE header, in its rows, in the APERTURE HDU.
    source = _KEPLER_DIR / "kplr002556081-2009259160929_llc.fits"
    path = tmp_path / source.name
    path.write_bytes(source.read_bytes()[:size])
    with pytest.raises(BadInputError, match=r"truncated|not a readable") as info:
        read_quarter(path)
    assert str(path) in str(info.value)


@pytest.mark.filterwarnings("ignore:Unexpected extra padding")
def test_bad_trailing_bytes(tmp_path: Path) -> None:
    path = tmp_path / "ok.fits"
    fits.HDUList([_primary(), _table(_ALL)]).writeto(path)
    with path.open("ab") as handle:
        handle.write(b"\0" * 100)
    _assert_bad(path, "truncated or corrupt")
