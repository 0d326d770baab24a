"""read_published: real published files parse with their published names; bad files are named."""

from __future__ import annotations

import gzip
from pathlib import Path

import pandas as pd
import pytest

from catalogs.errors import CatalogReadError
from catalogs.readers import read_published
from storage.errors import BadInputError

BIG_GAIA_ID = "2050232089348169729"  # not a float64 value: a float round trip changes it


@pytest.fixture(scope="module")
def catalogs_dir(real_data: Path) -> Path:
    return real_data / "catalogs"


def test_mcquillan_csv(catalogs_dir: Path) -> None:
    frame = read_published(catalogs_dir / "Table_1_Periodic.txt", "csv")
    assert frame.shape == (34030, 11)
    assert list(frame.columns[:5]) == ["kepid", "Teff", "logg", "Mass", "Prot"]
    first = frame.iloc[0]
    assert (first["kepid"], first["Teff"], first["Prot"], first["Flag"]) == (
        892376,
        3813,
        1.532,
        "---",
    )


def test_berger_ampersand_gz(catalogs_dir: Path) -> None:
    frame = read_published(catalogs_dir / "GKSPCPapTable1_Final.txt.gz", "ampersand_gz")
    assert frame.shape == (186548, 13)
    assert frame.columns[-1] == "evstate"  # the trailing '\\' is gone from the last name
    assert frame["evstate"].value_counts().to_dict() == {"clump": 7840, "RGB": 6956}
    row = frame.set_index("KIC").loc[5899262]
    assert (row["gmag"], row["kmag"], row["RUWE"]) == (13.9593, 9.902, 0.9669)


def test_santos_vizier_tsv(catalogs_dir: Path) -> None:
    frame = read_published(catalogs_dir / "Santos_2019_K_M_Prot.tsv", "vizier_tsv")
    assert frame.shape == (15640, 26)
    assert list(frame.columns[:3]) == ["KIC", "Kpmag", "Q"]
    assert frame["Prot"].dtype == "float64"  # units and dashes lines are not data
    assert frame.iloc[0][["KIC", "Prot", "E_Prot"]].tolist() == [892834, 13.61, 1.02]


def test_lu2021_mrt(catalogs_dir: Path) -> None:
    frame = read_published(catalogs_dir / "Lu_2021_ajabe4d6t1_mrt.txt", "mrt")
    assert frame.shape == (29949, 17)
    row = frame.set_index("kepid").loc[892834]
    assert row["GaiaDR2"] == 2050232089348169728  # I19 read as an exact int64
    assert (row["kinage"], row["e_kinage"]) == (1.235, 1.738)


def test_kepler_eb_csv_with_blank_first_line_and_trailing_commas(catalogs_dir: Path) -> None:
    frame = read_published(catalogs_dir / "kepler_eb.txt", "csv")
    assert frame.shape == (2920, 11)
    assert "KID" in frame.columns
    assert not [name for name in frame.columns if name.startswith("Unnamed")]


def test_dr25_cdpp_csv(catalogs_dir: Path) -> None:
    frame = read_published(catalogs_dir / "Kepler-Q1-Q17-DR25-CDPP3.csv", "csv")
    assert frame.shape == (200038, 2)
    assert list(frame.columns) == ["kepid", "rrmscdpp03p0"]


def test_fits_tables_decode_text_and_keep_zero_padded_kic(catalogs_dir: Path) -> None:
    kirk = read_published(catalogs_dir / "Kirk_2016_KEBC_2876_rows.fits", "fits")
    assert len(kirk) == 2876
    assert kirk["KIC"].iloc[1] == "08912468"  # str, not bytes, zero padding kept
    reinhold = read_published(catalogs_dir / "Reinhold_2015_20934_stars.fits", "fits")
    assert len(reinhold) == 20934
    assert "__B-V_0" in reinhold.columns


def test_text_columns_keep_big_ids_exact(tmp_path: Path) -> None:
    path = tmp_path / "ids.csv"
    path.write_text(f"kic,source_id\n1,{BIG_GAIA_ID}\n2,\n")
    as_numbers = read_published(path, "csv")
    assert as_numbers["source_id"].dtype == "float64"  # what a plain read would do
    as_text = read_published(path, "csv", text_columns={"source_id"})
    assert as_text["source_id"].iloc[0] == BIG_GAIA_ID
    assert pd.isna(as_text["source_id"].iloc[1])


def test_gzip_is_detected_from_the_content(tmp_path: Path) -> None:
    plain = tmp_path / "plain.csv"
    plain.write_text("KID,Prot\n1,2.5\n")
    packed = tmp_path / "packed.dat"
    packed.write_bytes(gzip.compress(b"KID,Prot\n1,2.5\n"))
    for path, fmt in ((plain, "csv_gz"), (packed, "csv")):
        assert read_published(path, fmt).to_dict("list") == {"KID": [1], "Prot": [2.5]}


def test_pipe_delimited_export(tmp_path: Path) -> None:
    path = tmp_path / "export.csv"
    path.write_text("obsid|ra|dec\n101005|280.5|44.1\n")
    assert list(read_published(path, "csv").columns) == ["obsid", "ra", "dec"]


def test_ampersand_table_with_empty_values(tmp_path: Path) -> None:
    path = tmp_path / "t.txt.gz"
    path.write_bytes(gzip.compress(b"KIC&feh&evstate\\\\\n757076&&\\\\\n757099&0.1&clump\\\\\n"))
    frame = read_published(path, "ampersand_gz")
    assert frame["KIC"].tolist() == [757076, 757099]
    assert frame["feh"].isna().tolist() == [True, False]
    assert frame["evstate"].tolist()[1] == "clump"


def _vizier_tsv(*blocks: str) -> str:
    return "#\n#   VizieR Astronomical Server\n#\n" + "".join(blocks)


def test_vizier_tsv_with_two_tables_is_refused(tmp_path: Path) -> None:
    table = "KIC\tProt\n \td\n---\t---\n1\t2.5\n\n"
    path = tmp_path / "two.tsv"
    path.write_text(_vizier_tsv(table, "#Table 2\n", table))
    with pytest.raises(CatalogReadError, match="more than one VizieR table"):
        read_published(path, "vizier_tsv")


@pytest.mark.parametrize(
    ("content", "fmt", "problem"),
    [
        (b"", "csv", "empty file"),
        (b"KID,Prot\n", "csv", "no data rows"),
        (b"\n\n\n", "csv", "only blank lines"),
        (b"<!DOCTYPE html><html>Not found</html>\n", "csv", "HTML"),
        (
            gzip.compress(b"KID,Prot\n1,2.5\n" * 2000, mtime=0)[:-40],
            "csv_gz",
            "corrupt or truncated gzip",
        ),
        (b"\x00\xff\xfe\x01binary", "csv", "not a UTF-8 text file: byte 0xff at offset 1"),
        (b"KIC,Prot\n1,2\n", "ampersand_gz", "no '&'"),
        (b"#comment\nKIC\tProt\n1\t2\n", "vizier_tsv", "not a VizieR TSV"),
        (b"KIC,Prot\n1,2\n", "mrt", "machine-readable"),
        (b"KIC,Prot\n1,2\n", "fits", "not a FITS file"),
        (b"a,b\n1,2\n1,2,3,4\n", "csv", "not a well-formed csv table"),
    ],
)
def test_bad_files_raise_catalog_read_error(
    tmp_path: Path, content: bytes, fmt: str, problem: str
) -> None:
    path = tmp_path / "bad_catalog"
    path.write_bytes(content)
    with pytest.raises(CatalogReadError, match=problem) as caught:
        read_published(path, fmt)  # type: ignore[arg-type]
    assert isinstance(caught.value, BadInputError)
    assert str(caught.value).startswith(str(path))


def test_unknown_format_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown catalog format"):
        read_published(tmp_path / "x", "xlsx")  # type: ignore[arg-type]
    with pytest.raises(FileNotFoundError):
        read_published(tmp_path / "absent.csv", "csv")
