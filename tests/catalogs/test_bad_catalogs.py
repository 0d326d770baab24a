"""Bad catalogs, made from the real published files and the demo sky's LAMOST catalog: each is
refused (or its bad rows rejected) with a bad-input error naming the file and the problem."""

from __future__ import annotations

import gzip
import io
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from catalogs.build import build_catalog, source_url
from catalogs.errors import CatalogReadError, CatalogSchemaError, CatalogSourceError
from catalogs.normalize import read_catalog
from catalogs.specs import SPECS
from desa.sky.catalogs import CATALOG_PATHS, write_catalogs
from desa.sky.population import SkyConfig, draw_stars, draw_visits
from storage.download import Downloader
from storage.errors import BadInputError
from storage.layout import LAMOST_CATALOG, RAW_CATALOGS, DataRoot, rejected_rows
from storage.tables import read_parquet

MCQUILLAN = SPECS["mcquillan2014"]
LAMOST = SPECS["lamost_lrs_stellar"]


@pytest.fixture(scope="module")
def mcquillan_text(real_data: Path) -> str:
    """McQuillan 2014 Table 1 as published (34,030 rows, key column `kepid`)."""
    return (real_data / "catalogs" / "Table_1_Periodic.txt").read_text()


def _edited(text: str, edit: Callable[[pd.DataFrame], pd.DataFrame]) -> str:
    frame = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)
    return edit(frame).to_csv(index=False)


def _text_prot(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.assign(Prot=[f"{value} d" for value in frame["Prot"]])


def _blank_keys(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.assign(kepid="")


@pytest.mark.parametrize(
    ("edit", "error", "problem"),
    [
        (
            lambda f: f.rename(columns={"Prot": "P_rot"}),
            CatalogSchemaError,
            r"missing required columns \['Prot'\] \(similar columns present: 'Prot' -> maybe "
            r"\['P_rot'\]\)",
        ),
        (lambda f: f.drop(columns=["Prot", "LPH"]), CatalogSchemaError, r"\['Prot', 'LPH'\]"),
        (
            _text_prot,
            CatalogReadError,
            r"column 'Prot' should hold numbers but none of its 34030 values is one "
            r"\(e.g. '1.532 d'\): wrong type",
        ),
        (
            lambda f: f.assign(kepid=[f"KIC {k}" for k in f["kepid"]]),
            CatalogReadError,
            r"column 'kepid' should hold integers .* \(e.g. 'KIC 892376'\): wrong type",
        ),
        (_blank_keys, CatalogReadError, r"no usable rows: all 34030 were rejected \(row 0: "),
        (lambda f: f.iloc[:0], CatalogReadError, "no data rows"),
    ],
    ids=["renamed column", "missing columns", "text numbers", "text keys", "no key", "no rows"],
)
def test_a_broken_real_catalog_is_refused_naming_the_file_and_problem(
    mcquillan_text: str, tmp_path: Path, edit: Callable, error: type, problem: str
) -> None:
    path = tmp_path / "Table_1_Periodic.txt"
    path.write_text(_edited(mcquillan_text, edit))
    with pytest.raises(error, match=problem) as refused:
        read_catalog(path, MCQUILLAN)
    assert isinstance(refused.value, BadInputError)
    assert str(refused.value).startswith(f"{path}: ")


def test_latin1_bytes_name_the_line(mcquillan_text: str, tmp_path: Path) -> None:
    lines = mcquillan_text.encode().splitlines(keepends=True)
    lines[99] = lines[99].replace(b"---", b"caf\xe9")  # Latin-1 e-acute in the Flag column
    path = tmp_path / "Table_1_Periodic.txt"
    path.write_bytes(b"".join(lines))
    offset = sum(map(len, lines[:99])) + lines[99].index(b"\xe9")
    with pytest.raises(CatalogReadError) as refused:
        read_catalog(path, MCQUILLAN)
    assert str(refused.value) == (
        f"{path}: not a UTF-8 text file: byte 0xe9 at offset {offset} (line 100) is not UTF-8 "
        "(a binary file, or text in another encoding such as Latin-1)"
    )


def test_bad_rows_of_a_real_catalog_are_rejected_and_the_rest_kept(
    mcquillan_text: str, tmp_path: Path
) -> None:
    def spoil(frame: pd.DataFrame) -> pd.DataFrame:
        frame = frame.copy()
        frame.loc[5, "Teff"] = "hot"  # a text value in a numeric column
        return pd.concat([frame, frame.iloc[[7]]], ignore_index=True)  # a repeated kepid

    path = tmp_path / "Table_1_Periodic.txt"
    path.write_text(_edited(mcquillan_text, spoil))
    result = read_catalog(path, MCQUILLAN)
    clean = read_catalog(
        io.StringIO(mcquillan_text) and _write(tmp_path, mcquillan_text), MCQUILLAN
    )
    assert result.rejected[["row", "reason"]].values.tolist() == [
        [5, "unparseable Teff value 'hot'"],
        [34030, f"repeated kepid {clean.table['kic'][7]} (first row kept)"],
    ]
    expected = clean.table.drop(index=5).reset_index(drop=True)
    pd.testing.assert_frame_equal(result.table, expected)


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "clean" / "Table_1_Periodic.txt"
    path.parent.mkdir(exist_ok=True)
    path.write_text(text)
    return path


@pytest.fixture(scope="module")
def demo_mirror(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo sky's catalogs (30 stars), as the catalogs stage reads them from the mirror."""
    root = tmp_path_factory.mktemp("mirror")
    stars = draw_stars(SkyConfig(n_stars=30), 11)
    visits = draw_visits(stars, 11)
    snr = visits["snr_g_target"].round(2)
    write_catalogs(root, stars, visits.assign(snru=snr, snrg=snr, snrr=snr, snri=snr, snrz=snr), 11)
    return root


def _lamost_frame(mirror: Path) -> pd.DataFrame:
    with gzip.open(mirror / CATALOG_PATHS["lamost_lrs_stellar"], "rt") as handle:
        return pd.read_csv(handle, dtype=str, keep_default_na=False)


def _mirror_with(tmp_path: Path, frame: pd.DataFrame, raw: bytes | None = None) -> str:
    path = tmp_path / "mirror" / LAMOST.mirror_path
    path.parent.mkdir(parents=True)
    path.write_bytes(raw if raw is not None else gzip.compress(frame.to_csv(index=False).encode()))
    return source_url(LAMOST, None, lambda kind: path.as_uri())


def _build(root: DataRoot, url: str):
    return build_catalog(LAMOST, root, url, Downloader(root.fs, sleep=lambda s: None))


def _files(folder: Path) -> set[Path]:
    return {p for p in folder.rglob("*") if p.is_file()}


def test_lamost_rows_whose_plan_id_is_a_path_are_rejected_and_nothing_leaves_the_root(
    demo_mirror: Path, tmp_path: Path
) -> None:
    frame = _lamost_frame(demo_mirror)
    bad = {2: "../../../escaped", 4: "/tmp/absolute", 6: ".."}
    spoiled = frame.copy()
    for row, planid in bad.items():
        spoiled.loc[row, "planid"] = planid
    root = DataRoot(tmp_path / "data")
    before = _files(tmp_path)
    built = _build(root, _mirror_with(tmp_path, spoiled))
    rejected = read_parquet(root.fs, root.path(rejected_rows("lamost_lrs_stellar")))
    assert rejected["row"].tolist() == list(bad)
    assert rejected["reason"].tolist() == [
        "planid '../../../escaped' is a path, not a name (holds '/' or '\\'; path traversal "
        "refused)",
        "planid '/tmp/absolute' is a path, not a name (holds '/' or '\\'; path traversal refused)",
        "planid '..' names a folder, not a file (path traversal)",
    ]
    # Paths under the data root are named relative to it (a root moves).
    assert built.rejected_reason.startswith(f"3 rows of {RAW_CATALOGS}/")
    assert built.rejected_reason.endswith(f"first: row 2: {rejected['reason'][0]}")
    # Everything else equals the catalog built from the clean file.
    clean = read_catalog(demo_mirror / CATALOG_PATHS["lamost_lrs_stellar"], LAMOST).table
    table = read_parquet(root.fs, root.of(LAMOST_CATALOG))
    expected = clean.drop(index=list(bad)).reset_index(drop=True)
    pd.testing.assert_frame_equal(table.reset_index(drop=True), expected, check_dtype=False)
    written = _files(tmp_path) - before
    assert written and all(
        p.is_relative_to(tmp_path / "data") or "mirror" in p.parts for p in written
    )


@pytest.mark.parametrize(
    ("spoil", "problem"),
    [
        (lambda f: pd.concat([f, f.iloc[[3]]]), r"obsid must be unique but 1 rows repeat one"),
        (lambda f: f.drop(columns=["snrg"]), r"missing required columns \['snrg'\]"),
        (lambda f: f.iloc[:0], "no data rows"),
        (lambda f: f.assign(teff="warm"), r"column 'teff' should hold numbers .*wrong type"),
    ],
    ids=["repeated obsid", "missing column", "header only", "text in a numeric column"],
)
def test_a_broken_demo_lamost_catalog_fails_its_build_naming_the_url_and_problem(
    demo_mirror: Path, tmp_path: Path, spoil: Callable, problem: str
) -> None:
    url = _mirror_with(tmp_path, spoil(_lamost_frame(demo_mirror)))
    root = DataRoot(tmp_path / "data")
    with pytest.raises(CatalogSourceError, match=problem) as refused:
        _build(root, url)
    assert str(refused.value).startswith(f"{url}: catalog 'lamost_lrs_stellar': ")
    assert not root.fs.exists(root.of(LAMOST_CATALOG))


def test_a_gzip_catalog_with_latin1_bytes_names_the_offset(
    demo_mirror: Path, tmp_path: Path
) -> None:
    text = _lamost_frame(demo_mirror).to_csv(index=False).encode()
    at = text.index(b"\n") + 5
    url = _mirror_with(tmp_path, pd.DataFrame(), gzip.compress(text[:at] + b"\xff" + text[at:]))
    with pytest.raises(CatalogSourceError, match=rf"byte 0xff at offset {at} \(line 2\)"):
        _build(DataRoot(tmp_path / "data"), url)


def test_an_empty_file_is_refused(tmp_path: Path) -> None:
    url = _mirror_with(tmp_path, pd.DataFrame(), b"")
    # The downloader refuses it first (a 0-byte answer is a failed transfer, retried).
    with pytest.raises(CatalogSourceError, match=r"download failed: empty file after"):
        _build(DataRoot(tmp_path / "data"), url)


def test_only_the_defined_file_columns_are_checked_as_names() -> None:
    assert LAMOST.name_columns == ("planid",)
    assert all(not spec.name_columns for spec in SPECS.values() if spec is not LAMOST)
    assert np.isin(list(LAMOST.name_columns), list(LAMOST.columns.values())).all()
