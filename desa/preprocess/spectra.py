"""LAMOST LRS spectra -> 3600 standardised pixels on a rest-frame log-λ grid (stage `spectra`).

The recipe is the reference code's (Li & Lin style, `LAMOSTSpectrumPreprocessor`,
desa_reference.md §8.1) with its radial-velocity defect fixed: the reference multiplies by
(1 + RV/c) and takes RV from HELIO_RV, which is the heliocentric correction already applied to
the wavelengths, not the star's velocity (§8.1 step 2; data_sources.md §1.4). Here:

1. rest frame λ_rest = λ / (1 + v/c), v = the star's RV (Z·c from the file, or the catalog rv);
2. blue arm 3841-5800 Å and red arm 5800-8798 Å, each linearly interpolated onto
   `10**arange(log10 lo, log10 hi, 1e-4)` (1790 + 1810 = 3600 pixels);
3. median filter of width 3 per arm (scipy.signal.medfilt: zero-padded edges);
4. continuum: least-squares polynomial of degree 5 in pixel index per arm, divided out;
5. per arm μ and population σ; values outside μ ± 3σ replaced by μ, then (x − μ)/σ;
6. blue then red.

Two choices the reference leaves open, made explicit: the interpolation uses every input pixel
(the reference first cuts each arm at 3841/5800/8798 Å and then extrapolates linearly over the
cut), and outside the input's wavelength range the edge value is held (np.interp) rather than
extrapolated; such pixels are marked invalid. Non-finite flux never enters the interpolation.

`preprocess_batch` is vectorised: spectra of different pixel counts are padded to a common
length; only the bracketing search runs per spectrum, the interpolation, median filter,
continuum fit (one least-squares projection shared by every spectrum, since every arm has the
same pixel count on the rest grid), clipping and standardisation run on the stacked arrays.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from os import PathLike
from typing import Any, NamedTuple, Protocol

import numpy as np
import pandas as pd
from numpy.lib.stride_tricks import sliding_window_view

from desa.surveys.lamost import C_KMS, SNR_BANDS, LamostSpectrum, read_spectrum
from storage.errors import BadInputError

# Arms and log-λ step of the reference preprocessor (desa_reference.md §8.1 steps 3-4).
BLUE_ARM = (3841.0, 5800.0)
RED_ARM = (5800.0, 8798.0)
LOG10_STEP = 1e-4


def _arm_grid(arm: tuple[float, float]) -> np.ndarray:
    lo, hi = arm
    return 10 ** np.arange(np.log10(lo), np.log10(hi), LOG10_STEP)


_BLUE_GRID = _arm_grid(BLUE_ARM)
_RED_GRID = _arm_grid(RED_ARM)
N_BLUE = _BLUE_GRID.size
N_RED = _RED_GRID.size
# 1790 blue + 1810 red = 3600 pixels (desa_reference.md §8.1 step 4).
N_PIXELS = 3600
assert (N_BLUE, N_RED) == (1790, 1810) and N_BLUE + N_RED == N_PIXELS
_GRID = np.concatenate([_BLUE_GRID, _RED_GRID])
_GRID.flags.writeable = False
_ARMS = (
    ("blue", slice(0, N_BLUE)),
    ("red", slice(N_BLUE, N_PIXELS)),
)

# Spectra handled at once: bounds the temporaries to ~26 MB whatever the shard size (measured
# with tracemalloc; 256 rows need ~100 MB and are no faster).
CHUNK_ROWS = 64

# σ of an arm at or below this fraction of |μ| after continuum division means nothing but
# rounding noise is left (a constant arm), and (x − μ)/σ would only amplify that noise.
_FLAT_SIGMA = 1e-8


def rest_grid() -> np.ndarray:
    """The 3600 rest-frame wavelengths (Å, vacuum) of the output pixels, blue then red."""
    return _GRID.copy()


class PreprocessError(BadInputError):
    """A spectrum the recipe cannot process; `path` names the file (or the spectrum)."""


@dataclass(frozen=True)
class SpectraRecipe:
    """The knobs of the recipe; defaults are the reference's (desa_reference.md §8.1)."""

    poly_degree: int = 5  # continuum polynomial in pixel index (§8.1 step 6)
    medfilt_width: int = 3  # scipy.signal.medfilt kernel (§8.1 step 5)
    clip_sigma: float = 3.0  # outliers beyond μ ± clip_sigma·σ -> μ (§8.1 step 7)
    # Least fraction of an arm's rest-grid pixels whose two interpolation neighbours must hold
    # usable flux; below it the arm is mostly invented by interpolation and the spectrum fails.
    min_arm_coverage: float = 0.5
    # Improvement over the recipe, off by default: leave ivar == 0 / andmask != 0 pixels out of
    # the interpolation (bridged from their good neighbours), so they reach neither the median
    # filter nor the continuum fit nor the statistics.
    mask_bad_pixels_before_fit: bool = False

    def __post_init__(self) -> None:
        if self.poly_degree < 0 or self.poly_degree >= N_BLUE:
            raise ValueError(f"poly_degree must be in [0, {N_BLUE}), not {self.poly_degree}")
        if self.medfilt_width < 1 or self.medfilt_width % 2 == 0:
            raise ValueError(
                f"medfilt_width must be a positive odd number, not {self.medfilt_width}"
            )
        if not self.clip_sigma > 0:
            raise ValueError(f"clip_sigma must be positive, not {self.clip_sigma}")
        if not 0 < self.min_arm_coverage <= 1:
            raise ValueError(f"min_arm_coverage must be in (0, 1], not {self.min_arm_coverage}")

    def as_dict(self) -> dict[str, Any]:
        """The recipe with its fixed grid, for provenance (Zarr attrs, cache keys)."""
        return {
            "rest_frame": "lambda / (1 + rv/c)",
            "c_kms": C_KMS,
            "blue_arm": list(BLUE_ARM),
            "red_arm": list(RED_ARM),
            "log10_step": LOG10_STEP,
            "n_pixels": N_PIXELS,
            **asdict(self),
        }


class SpectrumLike(Protocol):
    """What `preprocess_batch` reads from each spectrum (`LamostSpectrum` has it all)."""

    @property
    def wavelength(self) -> np.ndarray: ...
    @property
    def flux(self) -> np.ndarray: ...
    @property
    def rv_kms(self) -> float: ...
    @property
    def ivar(self) -> np.ndarray | None: ...
    @property
    def andmask(self) -> np.ndarray | None: ...


@dataclass(frozen=True, eq=False)
class SpectraBatch:
    """Rows in input order; a failed spectrum has a NaN row, an all-False mask and its error."""

    flux: np.ndarray  # (N, 3600) float32
    mask: np.ndarray  # (N, 3600) bool, True = both interpolation neighbours good
    errors: list[str | None]


@dataclass(frozen=True, eq=False)
class FileBatch:
    """The spectra of a list of files that preprocessed cleanly, and why the others did not."""

    obsids: list[int]
    flux: np.ndarray  # (n_ok, 3600) float32, rows in the order of `obsids`
    mask: np.ndarray  # (n_ok, 3600) bool
    snr: pd.DataFrame  # obsid, snru..snrz, rv_kms (the RV used), kic, ra, dec, release
    failures: list[tuple[str, str]]  # (path, reason) in input order
    readers: list[str]  # decoder that read each file of `obsids`: 'lean' or 'astropy'


class _Input(NamedTuple):
    wavelength: Any
    flux: Any
    rv_kms: float
    ivar: Any
    andmask: Any
    path: str


@dataclass(frozen=True, eq=False)
class _Row:
    """One spectrum that passed the per-spectrum checks."""

    rest: np.ndarray  # float64 rest-frame wavelength, strictly increasing
    flux: np.ndarray  # float64
    usable: np.ndarray  # bool: enters the interpolation
    good: np.ndarray  # bool: counts as a valid neighbour for the mask


def _rest_wavelength(label: str, wavelength: Any, rv_kms: float) -> np.ndarray:
    wave = np.asarray(wavelength, dtype=np.float64)
    if wave.ndim != 1 or wave.size < 2:
        raise PreprocessError(label, f"wavelength must be 1-D with ≥ 2 pixels, not {wave.shape}")
    if not (np.all(np.isfinite(wave)) and wave[0] > 0 and np.all(np.diff(wave) > 0)):
        raise PreprocessError(label, "wavelength is not a positive, strictly increasing array")
    rv = math.nan if rv_kms is None else float(rv_kms)
    if not math.isfinite(rv):
        raise PreprocessError(label, f"unknown radial velocity (rv_kms = {rv_kms})")
    if abs(rv) >= C_KMS:
        raise PreprocessError(label, f"radial velocity {rv} km/s is not below c")
    return wave / (1.0 + rv / C_KMS)


def _pixel_array(label: str, name: str, values: Any, n: int) -> np.ndarray:
    array = np.asarray(values)
    if array.shape != (n,):
        raise PreprocessError(label, f"{name} has shape {array.shape}, wavelength has {n} pixels")
    return array


def _good_pixels(label: str, finite: np.ndarray, ivar: Any, andmask: Any) -> np.ndarray:
    good = finite.copy()
    if ivar is not None:
        good &= _pixel_array(label, "ivar", ivar, finite.size) > 0
    if andmask is not None:
        good &= _pixel_array(label, "andmask", andmask, finite.size) == 0
    return good


def _check_row(spectrum: SpectrumLike, label: str, recipe: SpectraRecipe) -> _Row:
    """The per-spectrum checks, in the order their reasons are reported."""
    rest = _rest_wavelength(label, spectrum.wavelength, spectrum.rv_kms)
    flux = _pixel_array(label, "flux", spectrum.flux, rest.size).astype(np.float64)
    finite = np.isfinite(flux)
    if not finite.any():
        raise PreprocessError(label, "flux has no finite value (all NaN/inf)")
    if not np.any(flux[finite] != 0):
        raise PreprocessError(label, "flux is all zero")
    for name, (lo, hi), grid in (("blue", BLUE_ARM, _BLUE_GRID), ("red", RED_ARM, _RED_GRID)):
        if rest[-1] < grid[0] or rest[0] > grid[-1]:
            raise PreprocessError(
                label,
                f"wavelength coverage {rest[0]:.1f}-{rest[-1]:.1f} Å (rest frame) misses the "
                f"{name} arm {lo:g}-{hi:g} Å",
            )
    good = _good_pixels(label, finite, spectrum.ivar, spectrum.andmask)
    usable = good if recipe.mask_bad_pixels_before_fit else finite
    return _Row(rest=rest, flux=flux, usable=usable, good=good)


class _Brackets(NamedTuple):
    """Where each output pixel falls among the input pixels of its row (rows padded to L)."""

    below: np.ndarray  # (N, 3600) index of the input pixel at or below it, -1 if none
    left: np.ndarray  # (N, 3600) flat index into (N, L) of the left neighbour; right = +1
    inside: np.ndarray  # (N, 3600) inside the row's wavelength range
    offsets: np.ndarray  # (N, 1) flat index of each row's first pixel


def _brackets(rests: Sequence[np.ndarray], width: int) -> _Brackets:
    below = np.empty((len(rests), N_PIXELS), dtype=np.intp)
    last = np.empty((len(rests), 1))
    sizes = np.empty((len(rests), 1), dtype=np.intp)
    for i, rest in enumerate(rests):
        below[i] = np.searchsorted(rest, _GRID, side="right") - 1
        last[i] = rest[-1]
        sizes[i] = rest.size
    offsets = np.arange(0, len(rests) * width, width, dtype=np.intp)[:, None]
    left = np.clip(below, 0, sizes - 2) + offsets
    return _Brackets(below, left, (below >= 0) & (last >= _GRID), offsets)


def _both_neighbours(flags: np.ndarray, brackets: _Brackets) -> np.ndarray:
    """Output pixels inside the input range whose two bracketing input pixels are flagged."""
    flat = flags.ravel()
    return brackets.inside & flat[brackets.left] & flat[brackets.left + 1]


def _padded(rows: Sequence[np.ndarray], width: int, fill: Any, dtype: Any) -> np.ndarray:
    out = np.full((len(rows), width), fill, dtype=dtype)
    for i, row in enumerate(rows):
        out[i, : row.size] = row
    return out


def _resample(rows: Sequence[_Row]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Steps 1-2 for a batch: (flux on the grid, validity mask, coverage per arm (N, 2))."""
    width = max(row.rest.size for row in rows)
    brackets = _brackets([row.rest for row in rows], width)
    rest = _padded([row.rest for row in rows], width, np.inf, np.float64)
    flux = _padded([row.flux for row in rows], width, 0.0, np.float64)
    usable = _padded([row.usable for row in rows], width, False, bool)
    good = _padded([row.good for row in rows], width, False, bool)
    mask = _both_neighbours(good, brackets)
    covered = _both_neighbours(usable, brackets)
    coverage = np.stack([covered[:, arm].mean(axis=1) for _, arm in _ARMS], axis=1)

    left = brackets.left
    if not np.array_equal(usable, np.isfinite(rest)):
        # Interpolate over the usable pixels only: move them to the front of each row (stable,
        # so still sorted); the usable pixel at or below an output pixel is number count-1.
        order = np.argsort(~usable, axis=1, kind="stable") + brackets.offsets
        rest = rest.ravel()[order]
        flux = flux.ravel()[order]
        count = np.cumsum(usable, axis=1)
        below = np.maximum(brackets.below, 0) + brackets.offsets
        at_or_below = np.where(brackets.below >= 0, count.ravel()[below], 0) - 1
        left = np.clip(at_or_below, 0, np.maximum(count[:, -1:] - 2, 0)) + brackets.offsets
    x0 = rest.ravel()[left]
    x1 = rest.ravel()[left + 1]
    y0 = flux.ravel()[left]
    y1 = flux.ravel()[left + 1]
    # Rows with < 2 usable pixels give NaN here; their coverage is 0, so they are dropped.
    with np.errstate(invalid="ignore"):
        # np.interp semantics: linear inside, the edge value held outside the usable range.
        weight = np.clip((_GRID - x0) / (x1 - x0), 0.0, 1.0)
    return y0 + weight * (y1 - y0), mask, coverage


def _median_filter(arm: np.ndarray, width: int) -> np.ndarray:
    """scipy.signal.medfilt(row, width) for every row: zero-padded sliding median."""
    half = width // 2
    padded = np.pad(arm, ((0, 0), (half, half)))
    if width == 3:  # the recipe's width: a min/max network, ~20x faster than a partition
        a, b, c = padded[:, :-2], padded[:, 1:-1], padded[:, 2:]
        return np.maximum(np.minimum(a, b), np.minimum(np.maximum(a, b), c))
    windows = sliding_window_view(padded, width, axis=1)
    return np.partition(windows, half, axis=-1)[..., half]


@functools.lru_cache(maxsize=8)
def _continuum_basis(n: int, degree: int) -> np.ndarray:
    """Orthonormal basis (n, degree+1) of the polynomials of `degree` in pixel index.

    The least-squares fit of every row is then (Y Q) Q^T. Pixel index is mapped to [-1, 1]
    first: the same polynomials, but a well-conditioned Vandermonde matrix (index**5 reaches
    2e16 on an arm).
    """
    basis, _ = np.linalg.qr(np.vander(np.linspace(-1.0, 1.0, n), degree + 1))
    basis.flags.writeable = False
    return basis


def _normalise(resampled: np.ndarray, recipe: SpectraRecipe) -> tuple[np.ndarray, list[str]]:
    """Steps 3-6 for a batch; per row a problem text ('' when fine)."""
    out = np.empty_like(resampled)
    problems = [""] * resampled.shape[0]
    for name, arm in _ARMS:
        values = _median_filter(resampled[:, arm], recipe.medfilt_width)
        basis = _continuum_basis(values.shape[1], recipe.poly_degree)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            # einsum, not BLAS: a BLAS product's rounding depends on the batch's row count, and
            # a row's result must not depend on which rows share its shard (SIGKILL reruns).
            fit = np.einsum("rk,pk->rp", np.einsum("rp,pk->rk", values, basis), basis)
            values = values / fit
            mu = values.mean(axis=1, keepdims=True)
            sigma = values.std(axis=1, keepdims=True)
            lo = mu - recipe.clip_sigma * sigma
            hi = mu + recipe.clip_sigma * sigma
            clipped = np.where((values < lo) | (values > hi), mu, values)
            out[:, arm] = (clipped - mu) / sigma
            flat = ~(sigma[:, 0] > _FLAT_SIGMA * np.abs(mu[:, 0]))
        not_finite = ~np.isfinite(values).all(axis=1)
        for i in np.flatnonzero(not_finite | flat):
            if problems[i]:
                continue
            if not_finite[i]:
                problems[i] = (
                    f"{name} arm: flux / continuum is not finite (continuum fit crosses 0)"
                )
            else:
                problems[i] = f"{name} arm: no variation left after continuum division (σ = 0)"
    return out, problems


def _run_chunk(
    spectra: Sequence[SpectrumLike], labels: Sequence[str], recipe: SpectraRecipe
) -> tuple[np.ndarray, np.ndarray, list[PreprocessError | None]]:
    flux = np.full((len(spectra), N_PIXELS), np.nan, dtype=np.float32)
    mask = np.zeros((len(spectra), N_PIXELS), dtype=bool)
    errors: list[PreprocessError | None] = [None] * len(spectra)
    rows: list[_Row] = []
    index: list[int] = []
    for i, (spectrum, label) in enumerate(zip(spectra, labels, strict=True)):
        try:
            rows.append(_check_row(spectrum, label, recipe))
            index.append(i)
        except PreprocessError as exc:
            errors[i] = exc
        except (TypeError, ValueError) as exc:  # arrays or RV that do not convert to numbers
            errors[i] = PreprocessError(label, f"not numeric input ({exc})")
    if not rows:
        return flux, mask, errors

    resampled, row_mask, coverage = _resample(rows)
    enough = np.ones(len(rows), dtype=bool)
    for j, i in enumerate(index):
        for a, (name, arm) in enumerate(_ARMS):
            if coverage[j, a] < recipe.min_arm_coverage:
                usable = "unmasked finite" if recipe.mask_bad_pixels_before_fit else "finite"
                errors[i] = PreprocessError(
                    labels[i],
                    f"{name} arm: {usable} flux covers {coverage[j, a]:.0%} of its "
                    f"{arm.stop - arm.start} rest-grid pixels (need ≥ "
                    f"{recipe.min_arm_coverage:.0%})",
                )
                enough[j] = False
                break
    kept = np.asarray(index)[enough]
    if kept.size == 0:
        return flux, mask, errors

    normalised, problems = _normalise(resampled[enough], recipe)
    for j, i in enumerate(kept):
        if problems[j]:
            errors[i] = PreprocessError(labels[i], problems[j])
        else:
            flux[i] = normalised[j]
    ok = np.asarray([errors[i] is None for i in kept], dtype=bool)
    mask[kept[ok]] = row_mask[enough][ok]
    return flux, mask, errors


def _run(
    spectra: Sequence[SpectrumLike], labels: Sequence[str], recipe: SpectraRecipe
) -> tuple[np.ndarray, np.ndarray, list[PreprocessError | None]]:
    flux = np.empty((len(spectra), N_PIXELS), dtype=np.float32)
    mask = np.empty((len(spectra), N_PIXELS), dtype=bool)
    errors: list[PreprocessError | None] = []
    for start in range(0, len(spectra), CHUNK_ROWS):
        stop = min(start + CHUNK_ROWS, len(spectra))
        chunk = [spectra[i] for i in range(start, stop)]
        flux[start:stop], mask[start:stop], chunk_errors = _run_chunk(
            chunk, labels[start:stop], recipe
        )
        errors += chunk_errors
    return flux, mask, errors


def preprocess_spectrum(
    wavelength: np.ndarray,
    flux: np.ndarray,
    rv_kms: float,
    *,
    ivar: np.ndarray | None = None,
    andmask: np.ndarray | None = None,
    recipe: SpectraRecipe = SpectraRecipe(),
) -> np.ndarray:
    """One spectrum through the recipe: float32 (3600,), blue then red.

    `wavelength` in Å (observed, heliocentric), `rv_kms` the star's RV. `ivar`/`andmask` are
    used only with `recipe.mask_bad_pixels_before_fit`. Raises PreprocessError with the reason.
    """
    spectrum = _Input(wavelength, flux, rv_kms, ivar, andmask, "spectrum")
    out, _, errors = _run([spectrum], ["spectrum"], recipe)
    if errors[0] is not None:
        raise errors[0]
    return out[0]


def validity_mask(
    wavelength: np.ndarray,
    rv_kms: float,
    ivar: np.ndarray | None = None,
    andmask: np.ndarray | None = None,
    *,
    flux: np.ndarray | None = None,
) -> np.ndarray:
    """bool (3600,): True where both input pixels the interpolation uses are good.

    Good = ivar > 0 and andmask == 0 (and finite flux when `flux` is given: non-finite flux is
    bridged by the interpolation, so it is not data either). Pixels outside the input's rest
    wavelength range are invalid. `preprocess_batch` returns this mask with `flux` given.
    Raises PreprocessError for a malformed wavelength array or an unknown RV.
    """
    rest = _rest_wavelength("spectrum", wavelength, rv_kms)
    finite = np.ones(rest.size, dtype=bool)
    if flux is not None:
        finite = np.isfinite(_pixel_array("spectrum", "flux", flux, rest.size))
    good = _good_pixels("spectrum", finite, ivar, andmask)
    return _both_neighbours(good[None, :], _brackets([rest], rest.size))[0]


def _label(spectrum: SpectrumLike, index: int) -> str:
    return str(getattr(spectrum, "path", None) or f"spectrum {index}")


def preprocess_batch(
    spectra: Sequence[SpectrumLike],
    recipe: SpectraRecipe = SpectraRecipe(),
) -> SpectraBatch:
    """Many spectra (any pixel counts) at once; row i equals `preprocess_spectrum` of spectrum i.

    A spectrum that fails gets a NaN row, an all-False mask and its reason in `errors`
    ("path: problem", the path being `.path` when the object has one); the others go on.
    """
    labels = [_label(spectrum, i) for i, spectrum in enumerate(spectra)]
    flux, mask, errors = _run(spectra, labels, recipe)
    return SpectraBatch(
        flux=flux, mask=mask, errors=[None if e is None else str(e) for e in errors]
    )


# Columns (and dtypes) of FileBatch.snr; kic is missing for non-Kepler targets.
_SNR_DTYPES = {
    "obsid": "int64",
    **{f"snr{band}": "float64" for band in SNR_BANDS},
    "rv_kms": "float64",
    "kic": "Int64",
    "ra": "float64",
    "dec": "float64",
    "release": "string",
}


def preprocess_files(
    paths: Sequence[str | PathLike[str]],
    rv_override: Mapping[int, float] | None = None,
    recipe: SpectraRecipe = SpectraRecipe(),
) -> FileBatch:
    """Read LAMOST files and preprocess them (what one shard task runs).

    `rv_override` (e.g. the catalog rv by obsid) replaces the file's Z·c where it has a finite
    value. A file that cannot be read or preprocessed is a failure (path, reason); the rest go on.
    Files are read and processed CHUNK_ROWS at a time: only the 3600-pixel results accumulate.
    """
    failures: list[tuple[int, str, str]] = []
    obsids: list[int] = []
    fluxes: list[np.ndarray] = []
    masks: list[np.ndarray] = []
    records: list[dict[str, Any]] = []
    readers: list[str] = []
    for start in range(0, len(paths), CHUNK_ROWS):
        inputs: list[_Input] = []
        read: list[tuple[int, LamostSpectrum]] = []
        for position in range(start, min(start + CHUNK_ROWS, len(paths))):
            path = str(paths[position])
            try:
                spectrum = read_spectrum(path)
            except (BadInputError, FileNotFoundError) as exc:
                failures.append((position, path, str(exc)))
                continue
            rv = spectrum.rv_kms
            override = None if rv_override is None else rv_override.get(spectrum.obsid)
            if override is not None and math.isfinite(override):
                rv = float(override)
            inputs.append(
                _Input(
                    spectrum.wavelength, spectrum.flux, rv, spectrum.ivar, spectrum.andmask, path
                )
            )
            read.append((position, spectrum))
        if not inputs:
            continue
        flux, mask, errors = _run(inputs, [item.path for item in inputs], recipe)
        for j, ((position, spectrum), error) in enumerate(zip(read, errors, strict=True)):
            if error is not None:
                failures.append((position, spectrum.path, str(error)))
                continue
            obsids.append(spectrum.obsid)
            readers.append(spectrum.reader)
            fluxes.append(flux[j])
            masks.append(mask[j])
            records.append(
                {
                    "obsid": spectrum.obsid,
                    **{f"snr{band}": spectrum.snr[band] for band in SNR_BANDS},
                    "rv_kms": inputs[j].rv_kms,
                    "kic": spectrum.kic,
                    "ra": spectrum.ra,
                    "dec": spectrum.dec,
                    "release": spectrum.data_release,
                }
            )
    snr = pd.DataFrame.from_records(records, columns=list(_SNR_DTYPES)).astype(_SNR_DTYPES)
    return FileBatch(
        obsids=obsids,
        flux=np.stack(fluxes) if fluxes else np.empty((0, N_PIXELS), dtype=np.float32),
        mask=np.stack(masks) if masks else np.empty((0, N_PIXELS), dtype=bool),
        snr=snr,
        failures=[(path, reason) for _, path, reason in sorted(failures)],
        readers=readers,
    )
