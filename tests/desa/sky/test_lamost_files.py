"""LAMOST spectrum writer: both real layouts, read back by our reader and by plain astropy."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from astropy.io import fits

from bench.real_data import real_data_dir
from desa.sky.lamost_files import lamost_filename, write_lamost_spectrum
from desa.surveys.lamost import read_spectrum

_LAMOST_DIR = real_data_dir() / "lamost"

HEADER: dict[str, Any] = {
    "OBSID": 359910161,
    "DATA_V": "LAMOST DR8",
    "DATE-OBS": "2015-09-21T11:57:00",
    "LMJD": 57287,
    "MJD": 57286,
    "PLANID": "KP193637N444141V03",
    "RA": 292.05872,
    "DEC": 43.925228,
    "DESIG": "LAMOST J192814.09+435530.8",
    "FIBERID": 161,
    "TSOURCE": "Kepler",
    "TCOMMENT": "kplr008098300",
    "SPID": 10,
    "HELIO_RV": 9.85119,
    "CLASS": "STAR",
    "SUBCLASS": "F5",
    "Z": -0.00017162,
    "Z_ERR": 0.00002725,
    "SNRU": 25.39,
    "SNRG": 87.63,
    "SNRR": 128.48,
    "SNRI": 158.11,
    "SNRZ": 119.56,
}


def _arrays(n: int, start_log: float = 3.5682, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    andmask = np.zeros(n)
    andmask[[3, n - 2]] = [4, 1 << 23]  # a big bit survives float32 storage exactly
    ormask = andmask.copy()
    ormask[5] = 16
    ivar = rng.uniform(0.1, 2.0, n)
    ivar[-3:] = 0.0  # last pixels are often zero in the real files
    return {
        "wavelength": 10 ** (start_log + 1e-4 * np.arange(n)),
        "flux": rng.normal(100.0, 10.0, n),
        "ivar": ivar,
        "andmask": andmask,
        "ormask": ormask,
    }


def _f32(values: np.ndarray) -> np.ndarray:
    return values.astype(np.float32)


@pytest.mark.parametrize("compress", [True, False])
@pytest.mark.parametrize("n", [3909, 3751, 64])
@pytest.mark.parametrize("layout", ["image", "coadd"])
def test_roundtrip(tmp_path: Path, layout: str, n: int, compress: bool) -> None:
    arrays = _arrays(n, start_log=3.584 if n == 3751 else 3.5682)
    path = tmp_path / ("spec.fits.gz" if compress else "spec.fits")
    write_lamost_spectrum(path, layout=layout, header=HEADER, compress=compress, **arrays)  # type: ignore[arg-type]

    magic = b"\x1f\x8b" if compress else b"SIMPLE"
    assert path.read_bytes().startswith(magic)
    spec = read_spectrum(path)
    assert spec.layout == layout
    for name in ("wavelength", "flux", "ivar"):
        np.testing.assert_array_equal(getattr(spec, name), _f32(arrays[name]), err_msg=name)
    for name in ("andmask", "ormask"):
        np.testing.assert_array_equal(getattr(spec, name), arrays[name].astype(np.int64))
    assert spec.obsid == HEADER["OBSID"]
    assert (spec.ra, spec.dec, spec.z, spec.z_err) == (
        HEADER["RA"],
        HEADER["DEC"],
        HEADER["Z"],
        HEADER["Z_ERR"],
    )
    assert spec.rv_kms == pytest.approx(-51.45, abs=0.01)
    assert spec.kic == 8098300
    assert spec.data_release == "LAMOST DR8"
    assert spec.designation == HEADER["DESIG"]
    assert spec.snr == {"u": 25.39, "g": 87.63, "r": 128.48, "i": 158.11, "z": 119.56}
    assert spec.normalization is None
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temp file left


def test_image_layout_structure(tmp_path: Path) -> None:
    path = tmp_path / "old.fits.gz"
    arrays = _arrays(100)
    write_lamost_spectrum(path, layout="image", header=HEADER, **arrays)
    with fits.open(path) as hdul:
        assert len(hdul) == 1
        header = hdul[0].header
        assert hdul[0].data.shape == (5, 100)
        assert hdul[0].data.dtype == np.dtype(">f4")
        np.testing.assert_array_equal(hdul[0].data[2], _f32(arrays["wavelength"]))
        np.testing.assert_array_equal(hdul[0].data[4], _f32(arrays["ormask"]))
        assert header["EXTNAME"] == "Flux"
        assert header["N_EXTEN"] == 1
        assert header["EXTEN0"] == "Flux, Inverse, Wavelength, Andmask, Ormask"
        assert (header["FIBERTYP"], header["FIBERMAS"]) == ("Obj", 0)
        assert header["COEFF0"] == 3.5682 and header["CRVAL1"] == 3.5682
        assert header["COEFF1"] == 0.0001 and header["CD1_1"] == 0.0001
        assert (header["NWORDER"], header["WFITTYPE"], header["DC-FLAG"]) == (2, "LOG-LINEAR", 1)
        assert header["VACUUM"] is True and header["HELIO"] is True
        assert header["FILENAME"] == "old.fits"
        for absent in ("NORM", "FIB_TYPE", "FIB_MASK", "MAG_PS_G"):
            assert absent not in header
        keys = list(header.keys())
        assert keys.index("OBSID") < keys.index("DATA_V") < keys.index("EXTEN0")
        assert keys.index("COEFF0") < keys.index("Z") < keys.index("SNRZ")


@pytest.mark.parametrize("with_norm", [True, False])
def test_coadd_layout_structure(tmp_path: Path, with_norm: bool) -> None:
    path = tmp_path / "new.fits.gz"
    arrays = _arrays(77)
    norm = np.linspace(0.5, 1.5, 77) if with_norm else None
    write_lamost_spectrum(path, layout="coadd", header=HEADER, normalization=norm, **arrays)
    with fits.open(path) as hdul:
        assert len(hdul) == 2
        header = hdul[0].header
        assert hdul[0].data is None
        assert (header["N_EXTEN"], header["NORM"]) == (2, int(with_norm))
        assert (header["FIB_TYPE"], header["FIB_MASK"], header["MAG_PS_G"]) == ("Obj", 0, -999.0)
        for absent in ("EXTNAME", "EXTEN0", "FIBERTYP", "FIBERMAS", "MAG1"):
            assert absent not in header
        table = hdul[1]
        assert table.name == "COADD"
        assert table.header["NAXIS2"] == 1
        assert table.columns.names == [
            "FLUX",
            "IVAR",
            "WAVELENGTH",
            "ANDMASK",
            "ORMASK",
            "NORMALIZATION",
        ]
        assert table.columns.formats == ["77E"] * 6
        stored_norm = np.array(table.data["NORMALIZATION"][0])
        np.testing.assert_array_equal(table.data["FLUX"][0], _f32(arrays["flux"]))
    spec = read_spectrum(path)
    if with_norm:
        assert norm is not None
        np.testing.assert_array_equal(stored_norm, _f32(norm))
        np.testing.assert_array_equal(spec.normalization, _f32(norm))
    else:
        assert np.all(stored_norm == -9999.0)
        assert spec.normalization is None


def test_dr8_label_in_old_layout_reads_as_image(tmp_path: Path) -> None:
    # Real DR8 v1.0 files say DATA_V='LAMOST DR8' but use the image layout; a DR9-labelled
    # file written as an image is an image too: DATA_V never decides.
    for label in ("LAMOST DR8", "LAMOST DR9"):
        path = tmp_path / f"{label[-3:]}.fits.gz"
        header = {**HEADER, "DATA_V": label}
        write_lamost_spectrum(path, layout="image", header=header, **_arrays(3909))
        assert read_spectrum(path).layout == "image"
    path = tmp_path / "dr5_as_coadd.fits.gz"
    write_lamost_spectrum(
        path, layout="coadd", header={**HEADER, "DATA_V": "LAMOST DR5"}, **_arrays(9)
    )
    assert read_spectrum(path).layout == "coadd"


def test_fiber_cards_translated_between_layouts(tmp_path: Path) -> None:
    new_names = {**HEADER, "FIB_TYPE": "Sky", "FIB_MASK": 64, "NORM": 1, "MAG_PS_G": 12.5}
    old = tmp_path / "old.fits"
    write_lamost_spectrum(old, layout="image", header=new_names, compress=False, **_arrays(20))
    header = fits.getheader(old)
    assert (header["FIBERTYP"], header["FIBERMAS"]) == ("Sky", 64)
    assert "NORM" not in header and "FIB_TYPE" not in header
    assert header["MAG_PS_G"] == 12.5  # unknown to the layout: kept, after the template cards
    assert list(header.keys())[-1] == "MAG_PS_G"

    old_names = {**HEADER, "FIBERTYP": "Obj", "FIBERMAS": 2, "EXTNAME": "Flux", "N_EXTEN": 1}
    new = tmp_path / "new.fits"
    write_lamost_spectrum(new, layout="coadd", header=old_names, compress=False, **_arrays(20))
    header = fits.getheader(new)
    assert (header["FIB_TYPE"], header["FIB_MASK"], header["N_EXTEN"]) == ("Obj", 2, 2)
    assert "EXTNAME" not in header and "FIBERMAS" not in header


def test_overwrite_is_atomic_and_failure_leaves_nothing(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "spec.fits.gz"
    write_lamost_spectrum(path, layout="image", header=HEADER, **_arrays(30))
    write_lamost_spectrum(path, layout="coadd", header=HEADER, **_arrays(40))
    assert read_spectrum(path).wavelength.size == 40
    with pytest.raises(ValueError, match="NaN"):
        write_lamost_spectrum(
            path, layout="image", header={**HEADER, "Z": float("nan")}, **_arrays(50)
        )
    assert read_spectrum(path).wavelength.size == 40  # the old file is untouched
    assert [p.name for p in path.parent.iterdir()] == ["spec.fits.gz"]


def test_deterministic_bytes(tmp_path: Path) -> None:
    a, b = tmp_path / "a" / "s.fits.gz", tmp_path / "b" / "s.fits.gz"
    for path in (a, b):
        write_lamost_spectrum(path, layout="coadd", header=HEADER, **_arrays(50))
    assert a.read_bytes() == b.read_bytes()


def test_invalid_arguments(tmp_path: Path) -> None:
    path = tmp_path / "x.fits.gz"
    arrays = _arrays(10)
    with pytest.raises(ValueError, match="layout"):
        write_lamost_spectrum(path, layout="table", header=HEADER, **arrays)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="flux has 9 pixels"):
        write_lamost_spectrum(path, layout="image", header=HEADER, **{**arrays, "flux": np.ones(9)})
    with pytest.raises(ValueError, match="image layout has no NORMALIZATION"):
        write_lamost_spectrum(
            path, layout="image", header=HEADER, normalization=np.ones(10), **arrays
        )
    assert not path.exists()


def test_lamost_filename() -> None:
    assert lamost_filename(57287, "KP193637N444141V03", 10, 161) == (
        "spec-57287-KP193637N444141V03_sp10-161.fits.gz"
    )
    assert lamost_filename(55859, "F5902", 1, 5) == "spec-55859-F5902_sp01-005.fits.gz"


@pytest.mark.parametrize(
    ("rel", "layout"),
    [
        ("dr6/spec-57287-KP193637N444141V03_sp10-161.fits.gz", "image"),
        ("dr8/spec-55915-F5591503_sp05-112.fits.gz", "image"),
        ("dr9/spec-55859-F5902_sp01-001.fits.gz", "coadd"),
        ("dr9/spec-55859-F5902_sp01-002.fits.gz", "coadd"),
    ],
)
def test_rewriting_a_real_file_reproduces_it(
    real_data: Path, tmp_path: Path, rel: str, layout: str
) -> None:
    """Same cards in the same order with the same values, and the same pixel data."""
    source = _LAMOST_DIR / rel
    spec = read_spectrum(source)
    path = tmp_path / source.name
    write_lamost_spectrum(
        path,
        layout=layout,  # type: ignore[arg-type]
        wavelength=spec.wavelength,
        flux=spec.flux,
        ivar=spec.ivar,
        andmask=spec.andmask,
        ormask=spec.ormask,
        header=spec.header,
        normalization=spec.normalization,
    )
    # The real DR9 primary says BITPIX=16 with stray NAXIS1/NAXIS2 cards although NAXIS=0;
    # astropy writes a clean empty primary instead. Blank cards are not reproduced.
    skip = {"", "BITPIX", "NAXIS1", "NAXIS2"} if layout == "coadd" else {""}
    real, ours = fits.getheader(source), fits.getheader(path)
    assert [k for k in real if k not in skip] == [k for k in ours if k not in skip]
    for key in real:
        if key not in skip and key != "COMMENT":
            assert ours[key] == real[key], key
    assert list(real["COMMENT"]) == list(ours["COMMENT"])
    with fits.open(source) as a, fits.open(path) as b:
        assert len(a) == len(b)
        if layout == "image":
            np.testing.assert_array_equal(a[0].data, b[0].data)
        else:
            assert a[1].columns.names == b[1].columns.names
            assert a[1].columns.formats == b[1].columns.formats
            for name in a[1].columns.names:
                np.testing.assert_array_equal(a[1].data[name], b[1].data[name])
