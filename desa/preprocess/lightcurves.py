"""Kepler light curves on the global long-cadence grid, and their ACF / FFT features.

Stage `lightcurves` (issue 3). Per star, the rows `lightkurve.read(path, quality_bitmask)`
keeps (read with `desa.surveys.kepler.read_quarter`, same rows) are normalised per quarter by
their median PDCSAP flux -- what `lightkurve.LightCurve.normalize()` does after
`remove_nans()` -- and placed on one grid of CADENCENO shared by every star, so that cadence
`i` is the same instant for all stars and gaps stay gaps (the reference code concatenated
quarters and lost them, desa_reference.md §8.2).

Also the absolute-magnitude factor of the paper (§4.2) and the autocorrelation / Fourier
features the light-curve encoder consumes (desa_reference.md §8.2), in numpy and torch.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from os import PathLike
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import ArrayLike
from scipy.fft import next_fast_len

from desa.surveys.kepler import QUARTERS, KeplerQuarter, read_quarter, resolve_bitmask
from storage.errors import BadInputError

if TYPE_CHECKING:  # torch is imported only by the torch variants (~1 s import)
    import torch

# Grid: every long cadence from the first of Q0 to the last of Q17. CADENCENO advances by one
# per 29.4 min cadence, also across the gaps between quarters (checked on the real files), so
# index = CADENCENO - first.
_FIRST_CADENCENO = QUARTERS[min(QUARTERS)].first_cadenceno
_LAST_QUARTER = QUARTERS[max(QUARTERS)]
N_CADENCES = _LAST_QUARTER.first_cadenceno + _LAST_QUARTER.n_cadences - _FIRST_CADENCENO


def cadence_grid() -> np.ndarray:
    """CADENCENO (int64) of every cell of the global grid, Q0's first to Q17's last."""
    return np.arange(_FIRST_CADENCENO, _FIRST_CADENCENO + N_CADENCES, dtype=np.int64)


class LightCurveError(BadInputError):
    """A star that cannot be stitched; `path` names the star ("KIC n") or the offending file."""


@dataclass(frozen=True, eq=False)
class StitchedStar:
    """One star on the global grid (`cadence_grid()`).

    flux: float32, PDCSAP / median PDCSAP of its quarter; NaN where the grid has no good data
    (no cadence, quality-flagged, NaN flux, or a quarter not used).
    quality: int32 SAP_QUALITY of the rows read_quarter kept (bits outside the bitmask, e.g.
    128 ApertureCosmic under "default", so a harder mask can still be applied), 0 elsewhere --
    0 alone does not mean good data; a finite flux does.
    quarters: the quarters used, ascending; n_quarters = len(quarters).
    """

    kic: int
    flux: np.ndarray
    quality: np.ndarray
    n_quarters: int
    quarters: tuple[int, ...]


@dataclass(frozen=True, eq=False)
class StarBatch:
    """The stars of one shard: rows of `flux`/`quality` follow `kics` (input order, failures
    left out). `failures`: (kic, reason) of stars not stitched; `skipped`: (kic, reason) of
    unreadable quarter files of stars that were stitched without them."""

    kics: list[int]
    flux: np.ndarray  # (S, N_CADENCES) float32
    quality: np.ndarray  # (S, N_CADENCES) int32
    n_quarters: list[int]
    kepmag: list[float]  # KEPMAG card (KIC Kepler magnitude); NaN when absent
    failures: list[tuple[int, str]]
    skipped: list[tuple[int, str]]
    # Decoder(s) that read each star's quarter files: 'lean', 'astropy' or 'astropy+lean'.
    readers: list[str]


@dataclass(frozen=True, eq=False)
class _Usable:
    """A quarter with finite good flux: its rows and the float32 median lightkurve divides by."""

    quarter: KeplerQuarter
    flux: np.ndarray
    good: np.ndarray
    median: np.float32

    @property
    def rank(self) -> tuple[int, str]:
        return int(np.count_nonzero(self.good)), self.quarter.path


def _usable(quarter: KeplerQuarter) -> _Usable | str:
    """The quarter's usable rows, or why it has none."""
    flux = np.asarray(quarter.flux, dtype=np.float32)
    good = np.isfinite(flux)
    if not good.any():
        return (
            f"{quarter.path}: every cadence is flagged by the quality bitmask, has no time, or "
            "has NaN PDCSAP flux"
        )
    # float32 median of the finite values = np.nanmedian(lc.flux) in lightkurve's normalize().
    median = np.median(flux[good])
    # A non-positive median would flip or blow up the curve (lightkurve only warns).
    if not median > 0:
        return f"{quarter.path}: median PDCSAP flux {median:g} is not positive"
    return _Usable(quarter, flux, good, median)


def stitch_quarters(quarters: Sequence[KeplerQuarter], *, min_quarters: int = 2) -> StitchedStar:
    """Place one star's quarters on the global grid (see `StitchedStar`).

    A quarter counts only if it has finite good flux with a positive median. Several files
    of one quarter (the partial Q4 stamp 2010009091648 beside the full Q4 file): the one with
    the most finite good cadences is used, ties going to the larger path (the later stamp), so
    the choice does not depend on the input order. LightCurveError when fewer than
    `min_quarters` quarters count (all cadences flagged included), when the quarters are of
    different stars, or a used quarter has cadences off the grid or on another's cadences.
    """
    if min_quarters < 1:
        raise ValueError(f"min_quarters must be >= 1, not {min_quarters}")
    if not quarters:
        raise LightCurveError("(no files)", "no quarters to stitch")
    kics = sorted({q.kic for q in quarters})
    if len(kics) > 1:
        raise LightCurveError(quarters[0].path, f"quarters of different stars: KIC {kics}")
    star = f"KIC {kics[0]}"
    chosen: dict[int, _Usable] = {}
    unusable: list[str] = []
    for quarter in quarters:
        usable = _usable(quarter)
        if isinstance(usable, str):
            unusable.append(usable)
            continue
        best = chosen.get(quarter.quarter)
        if best is None or usable.rank > best.rank:
            chosen[quarter.quarter] = usable
    if not chosen:
        raise LightCurveError(
            star,
            f"no good cadence in any of its {len(quarters)} quarter file(s): {'; '.join(unusable)}",
        )
    if len(chosen) < min_quarters:
        why = f"; not usable: {'; '.join(unusable)}" if unusable else ""
        raise LightCurveError(
            star,
            f"only {len(chosen)} usable quarter(s) (Q{', Q'.join(map(str, sorted(chosen)))}), "
            f"need at least {min_quarters}{why}",
        )
    flux = np.full(N_CADENCES, np.nan, dtype=np.float32)
    quality = np.zeros(N_CADENCES, dtype=np.int32)
    taken = np.zeros(N_CADENCES, dtype=bool)
    for number in sorted(chosen):
        usable = chosen[number]
        index = np.asarray(usable.quarter.cadenceno, dtype=np.int64) - _FIRST_CADENCENO
        if index.min() < 0 or index.max() >= N_CADENCES:
            raise LightCurveError(
                usable.quarter.path,
                f"{star} Q{number}: CADENCENO {index.min() + _FIRST_CADENCENO}.."
                f"{index.max() + _FIRST_CADENCENO} is outside the Kepler long-cadence grid "
                f"{_FIRST_CADENCENO}..{_FIRST_CADENCENO + N_CADENCES - 1}",
            )
        if taken[index].any():
            raise LightCurveError(
                usable.quarter.path, f"{star} Q{number}: cadences overlap another quarter's"
            )
        taken[index] = True
        flux[index[usable.good]] = usable.flux[usable.good] / usable.median
        quality[index] = usable.quarter.quality
    return StitchedStar(
        kic=kics[0],
        flux=flux,
        quality=quality,
        n_quarters=len(chosen),
        quarters=tuple(sorted(chosen)),
    )


def _kepmag(quarters: Sequence[KeplerQuarter]) -> float:
    """KEPMAG of the first quarter (by number, then path) whose card holds a number."""
    for quarter in sorted(quarters, key=lambda q: (q.quarter, q.path)):
        value = quarter.cards.get("KEPMAG")
        is_number = isinstance(value, int | float) and not isinstance(value, bool)
        if is_number and math.isfinite(value):
            return float(value)
    return math.nan


def process_stars(
    files_by_kic: Mapping[int, Sequence[str | PathLike[str]]],
    *,
    quality_bitmask: str | int = "default",
    min_quarters: int = 2,
) -> StarBatch:
    """Read and stitch every star of one shard (one Dask task).

    An unreadable quarter file (BadInputError, OSError, or a KEPLERID other than its key) is
    skipped and its reason kept; the star fails only when too few usable quarters remain, with
    the skipped files appended to its reason. Memory: one (S, N_CADENCES) float32 and int32
    pair for the S stars of the shard plus one star's files at a time.
    """
    # Bad arguments are the caller's error, not the files'.
    resolve_bitmask(quality_bitmask)
    if min_quarters < 1:
        raise ValueError(f"min_quarters must be >= 1, not {min_quarters}")
    n_stars = len(files_by_kic)
    # np.empty: pages of rows never filled (failed stars) are never touched.
    flux = np.empty((n_stars, N_CADENCES), dtype=np.float32)
    quality = np.empty((n_stars, N_CADENCES), dtype=np.int32)
    kics: list[int] = []
    n_quarters: list[int] = []
    kepmags: list[float] = []
    failures: list[tuple[int, str]] = []
    skipped: list[tuple[int, str]] = []
    readers: list[str] = []
    for kic, paths in files_by_kic.items():
        quarters: list[KeplerQuarter] = []
        unreadable: list[str] = []
        for path in paths:
            try:
                quarter = read_quarter(path, quality_bitmask)
            except (BadInputError, OSError) as exc:
                unreadable.append(str(exc))
                continue
            if quarter.kic != kic:
                unreadable.append(f"{path}: KEPLERID is {quarter.kic}, expected {kic}")
                continue
            quarters.append(quarter)
        try:
            if not quarters:
                raise LightCurveError(f"KIC {kic}", "no readable quarter file")
            star = stitch_quarters(quarters, min_quarters=min_quarters)
        except LightCurveError as exc:
            extra = f"; unreadable file(s): {'; '.join(unreadable)}" if unreadable else ""
            failures.append((kic, f"{exc}{extra}"))
            continue
        row = len(kics)
        flux[row] = star.flux
        quality[row] = star.quality
        kics.append(kic)
        n_quarters.append(star.n_quarters)
        kepmags.append(_kepmag([q for q in quarters if q.quarter in star.quarters]))
        readers.append("+".join(sorted({q.reader for q in quarters})))
        skipped.extend((kic, reason) for reason in unreadable)
    return StarBatch(
        kics=kics,
        flux=flux[: len(kics)],
        quality=quality[: len(kics)],
        n_quarters=n_quarters,
        kepmag=kepmags,
        failures=failures,
        skipped=skipped,
        readers=readers,
    )


def absolute_magnitude(kepmag: ArrayLike, dist_pc: ArrayLike) -> Any:
    """M = Kp - 5 log10(d / 10 pc) (paper §4.2; d from Berger 2020), elementwise.

    NaN where either input is NaN or d is not a finite positive distance. A scalar for scalar
    inputs, else an array.
    """
    kepmag = np.asarray(kepmag, dtype=np.float64)
    dist = np.asarray(dist_pc, dtype=np.float64)
    valid = np.isfinite(dist) & (dist > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        magnitude = kepmag - 5.0 * np.log10(dist / 10.0)
    return np.where(valid, magnitude, np.nan)[()]


def luminosity_factor(abs_mag: ArrayLike, reference: bool = False) -> Any:
    """Factor the relative flux is multiplied by: 10^(-0.4 M), a flux ratio (paper §4.2).

    reference=True gives the reference code's 2^M (`Normalize('mag')`, desa_reference.md §8.2)
    for reproductions only: it is not physical (wrong base, and brighter stars get smaller
    factors). NaN in, NaN out; a scalar for scalar input.
    """
    magnitude = np.asarray(abs_mag, dtype=np.float64)
    with np.errstate(over="ignore"):
        factor = np.exp2(magnitude) if reference else np.power(10.0, -0.4 * magnitude)
    return factor[()]


def _centred(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """x - mean(finite x), non-finite samples set to 0 (float64), and that mean."""
    y = np.asarray(x, dtype=np.float64)
    finite = np.isfinite(y)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(finite, y, 0.0).sum(axis=-1, keepdims=True) / finite.sum(
            axis=-1, keepdims=True
        )
    return np.where(finite, y - mean, 0.0), mean


def _series(x: ArrayLike) -> tuple[np.ndarray, np.dtype]:
    array = np.asarray(x)
    if array.ndim < 1 or array.shape[-1] == 0:
        raise ValueError(f"expected a non-empty series (last axis), got shape {array.shape}")
    return array, np.result_type(array.dtype, np.float32)


def acf(x: ArrayLike) -> np.ndarray:
    """Autocorrelation for lags 0..n-1 along the last axis, 1 at lag 0.

    r[k] = sum_t y[t] y[t+k] / sum_t y[t]^2 with y = x - mean(x) (statsmodels' acf with
    adjusted=False, the reference code's choice, desa_reference.md §8.2). Non-finite samples
    (gaps) count as 0 after the mean subtraction, i.e. they add nothing to any lag; the mean is
    over the finite samples. A series with zero variance (or no finite sample) gives NaN.
    Computed with a zero-padded FFT (Wiener-Khinchin), O(n log n), in float64; returns float32
    for float32 input, else float64.
    """
    array, dtype = _series(x)
    n = array.shape[-1]
    y, _ = _centred(array)
    n_fft = next_fast_len(2 * n - 1, real=True)  # >= 2n-1: no circular wrap-around
    spectrum = np.fft.rfft(y, n=n_fft, axis=-1)
    r = np.fft.irfft(spectrum.real**2 + spectrum.imag**2, n=n_fft, axis=-1)[..., :n]
    with np.errstate(invalid="ignore", divide="ignore"):
        return (r / r[..., :1]).astype(dtype, copy=False)


def _bin_positions(n: int, m: int) -> tuple[np.ndarray, np.ndarray]:
    """Left bin and weight of n points spread evenly over bins 0..m-1 (np.interp's rule)."""
    position = np.linspace(0.0, m - 1, n)
    left = np.minimum(np.floor(position).astype(np.int64), m - 2)
    return left, position - left


def fft_features(x: ArrayLike) -> np.ndarray:
    """log1p(|rfft(x)|) along the last axis, linearly interpolated back to len(x) samples.

    Output sample i sits at rfft bin i (m-1)/(n-1) (np.interp over np.linspace(0, m-1, n), both
    ends aligned, m = n//2 + 1). Non-finite samples are replaced by the mean of the finite ones
    (as in `acf`). The transform is taken of the mean-subtracted series with the DC bin set to
    |n mean| -- the same numbers, without the large DC term swamping float32 precision.
    Returns float32 for float32 input, else float64.
    """
    array, dtype = _series(x)
    n = array.shape[-1]
    y, mean = _centred(array)
    amplitude = np.abs(np.fft.rfft(y, axis=-1))
    amplitude[..., :1] = np.abs(n * mean)
    features = np.log1p(amplitude)
    m = features.shape[-1]
    if m == 1:
        return features.astype(dtype, copy=False)
    left, weight = _bin_positions(n, m)
    out = features[..., left] * (1.0 - weight) + features[..., left + 1] * weight
    return out.astype(dtype, copy=False)


def _centred_torch(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """`_centred` in x's floating dtype, the mean and the subtraction done in float64: a
    float32 mean is off by ~1e-7 of the flux level, and with gaps that offset leaks the gap
    pattern's spectrum (~1e-5 in the features) into the low frequencies."""
    import torch

    if not x.is_floating_point():
        x = x.to(torch.get_default_dtype())
    finite = torch.isfinite(x)
    wide = x.to(torch.float64)
    zero = torch.zeros((), dtype=torch.float64, device=x.device)
    mean = torch.where(finite, wide, zero).sum(-1, keepdim=True) / finite.sum(-1, keepdim=True)
    return torch.where(finite, wide - mean, zero).to(x.dtype), mean.to(x.dtype)


def acf_torch(x: torch.Tensor) -> torch.Tensor:
    """`acf` for a tensor (..., n) on any device, in its floating dtype; autograd-safe."""
    import torch

    if x.dim() < 1 or x.shape[-1] == 0:
        raise ValueError(f"expected a non-empty series (last axis), got shape {tuple(x.shape)}")
    n = x.shape[-1]
    y, _ = _centred_torch(x)
    n_fft = next_fast_len(2 * n - 1, real=True)
    spectrum = torch.fft.rfft(y, n=n_fft, dim=-1)
    r = torch.fft.irfft(spectrum.real**2 + spectrum.imag**2, n=n_fft, dim=-1)[..., :n]
    return r / r[..., :1]


def fft_features_torch(x: torch.Tensor) -> torch.Tensor:
    """`fft_features` for a tensor (..., n) on any device, in its floating dtype."""
    import torch

    if x.dim() < 1 or x.shape[-1] == 0:
        raise ValueError(f"expected a non-empty series (last axis), got shape {tuple(x.shape)}")
    n = x.shape[-1]
    y, mean = _centred_torch(x)
    amplitude = torch.fft.rfft(y, dim=-1).abs()
    amplitude = torch.cat([(n * mean).abs(), amplitude[..., 1:]], dim=-1)
    features = torch.log1p(amplitude)
    m = features.shape[-1]
    if m == 1:
        return features
    left, weight = _bin_positions(n, m)
    left_t = torch.from_numpy(left).to(x.device)
    weight_t = torch.from_numpy(weight).to(device=x.device, dtype=features.dtype)
    return features[..., left_t] * (1.0 - weight_t) + features[..., left_t + 1] * weight_t
