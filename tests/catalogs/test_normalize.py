"""normalize/read_catalog: real files give known values; schema drift, sentinels and bad rows."""

from __future__ import annotations

import gzip
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from catalogs.errors import CatalogReadError, CatalogSchemaError
from catalogs.normalize import NormalizedCatalog, normalize, read_catalog
from catalogs.specs import SPECS, CatalogSpec

BIG_GAIA_ID = "2050232089348169729"  # not a float64 value: a float round trip changes it
SOURCE = "test://catalog.csv"


@pytest.fixture(scope="module")
def catalogs_dir(real_data: Path) -> Path:
    return real_data / "catalogs"


def _row(result: NormalizedCatalog, kic: int) -> pd.Series:
    rows = result.table[result.table["kic"] == kic]
    assert len(rows) == 1, kic
    return rows.iloc[0]


def test_mcquillan2014(catalogs_dir: Path) -> None:
    result = read_catalog(catalogs_dir / "Table_1_Periodic.txt", SPECS["mcquillan2014"])
    table = result.table
    assert len(table) == 34030 and result.rejected.empty
    assert list(table.columns) == list(SPECS["mcquillan2014"].columns.values())
    assert table["kic"].dtype == np.int64 and table["teff"].dtype == np.float64
    first = table.iloc[0]
    assert (first["kic"], first["teff"], first["prot"], first["prot_err"]) == (
        892376,
        3813.0,
        1.532,
        0.007,
    )
    star = _row(result, 892834)
    assert (star["prot"], star["prot_err"], star["teff"], star["logg"]) == (
        13.765,
        0.023,
        4795,
        4.61,
    )
    assert (star["mass"], star["rper"]) == (0.7806, 11884.81)
    # '---' (no flag) is the published "nothing here".
    assert table["flag"].isna().sum() == 33591
    assert table["flag"].value_counts().to_dict() == {"SM1": 258, "SM2": 125, "BQR": 56}


def test_berger2020_input(catalogs_dir: Path) -> None:
    result = read_catalog(catalogs_dir / "GKSPCPapTable1_Final.txt.gz", SPECS["berger2020_input"])
    assert len(result.table) == 186548 and result.rejected.empty
    faint = _row(result, 2556081)
    assert (faint["gmag"], faint["kmag"], faint["parallax"], faint["ruwe"]) == (
        16.6582,
        13.358,
        1.5543,
        1.0296,
    )
    assert np.isnan(faint["feh"]) and faint["evstate"] is None
    assert _row(result, 5899262)["evstate"] == "clump"
    assert _row(result, 892834)["ruwe"] == 1.0567
    provenance = result.table["kmag_final_prov"].value_counts().to_dict()
    assert provenance["BinaryCorr"] == 19704 and provenance["TerDet_NoCorr"] == 376
    assert result.table["num_gaia_companions"].dtype == "Int64"


def test_santos2019(catalogs_dir: Path) -> None:
    result = read_catalog(catalogs_dir / "Santos_2019_K_M_Prot.tsv", SPECS["santos2019"])
    assert len(result.table) == 15640 and result.rejected.empty
    star = _row(result, 892834)
    assert (star["prot"], star["prot_err"], star["teff"], star["kepmag"]) == (
        13.61,
        1.02,
        4940.0,
        15.269,
    )
    assert pd.isna(star["flag1"]) and star["flag2"] == 0 and pd.isna(star["dmk"])
    assert _row(result, 893033)["prot"] == 25.94


def test_lu2021(catalogs_dir: Path) -> None:
    result = read_catalog(catalogs_dir / "Lu_2021_ajabe4d6t1_mrt.txt", SPECS["lu2021"])
    assert len(result.table) == 29949 and result.rejected.empty
    star = _row(result, 892834)
    assert star["gaia_dr2_source_id"] == "2050232089348169728"
    assert (star["prot"], star["age_gyr"], star["age_err"]) == (13.765, 1.235, 1.738)


def test_kepler_eb(catalogs_dir: Path) -> None:
    result = read_catalog(catalogs_dir / "kepler_eb.txt", SPECS["kepler_eb"])
    # 2,920 rows for 2,907 KIDs: later repeats are quarantined, first rows kept.
    assert len(result.table) == 2907 and len(result.rejected) == 13
    assert result.rejected["reason"].str.contains("repeated KID").all()
    eb = _row(result, 8098300)
    assert (eb["eb_period"], eb["bjd0"], eb["morph"], eb["teff"]) == (
        4.3059177,
        54956.737583,
        0.36,
        6275.0,
    )
    assert _row(result, 11442793)["eb_period"] == pytest.approx(842.4, abs=0.1)
    # -1 is the published "missing": none survives as a number.
    for name in ("teff", "kmag", "morph"):
        assert not (result.table[name] == -1).any()
    assert np.isnan(_row(result, 3863594)["kmag"])


def test_kepler_cdpp(catalogs_dir: Path) -> None:
    result = read_catalog(catalogs_dir / "Kepler-Q1-Q17-DR25-CDPP3.csv", SPECS["kepler_cdpp"])
    assert len(result.table) == 200038 and result.rejected.empty
    assert _row(result, 892834)["cdpp3_ppm"] == 296.715
    assert _row(result, 8098300)["cdpp3_ppm"] == 322.814


def test_zero_padded_text_kic_from_fits(catalogs_dir: Path) -> None:
    spec = CatalogSpec(
        name="kirk2016",
        description="Kirk 2016 VizieR FITS export (test-only spec)",
        citation="Kirk B. et al. 2016, AJ 151, 68; VizieR J/AJ/151/68",
        format="fits",
        mirror_path=None,
        source=None,
        columns={"KIC": "kic", "Per": "eb_period", "Kpmag": "kepmag"},
        required=frozenset({"KIC", "Per"}),
        dtypes={"kic": "int64", "eb_period": "float64", "kepmag": "float64"},
        key="kic",
    )
    result = read_catalog(catalogs_dir / "Kirk_2016_KEBC_2876_rows.fits", spec)
    assert len(result.table) == 2863  # 2,876 rows for 2,863 distinct KICs
    assert (result.table["kic"] == 8912468).sum() == 1
    assert _row(result, 8098300)["eb_period"] == pytest.approx(4.305918, abs=1e-6)


def _mcquillan_frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "kepid": [892376, 1026146],
            "Teff": [3813, 4261],
            "logg": [4.47, 4.57],
            "Mass": [0.47, 0.65],
            "Prot": [1.532, 14.891],
            "Prot_err": [0.007, 0.12],
            "Rper": [7306.69, 11742.56],
            "LPH": [0.823, 1.405],
            "w": [0.45, 0.72],
            "DC": [0, 0],
            "Flag": ["---", "SM1"],
        }
    )


def test_renamed_key_column_names_the_file_and_the_likely_new_name() -> None:
    frame = _mcquillan_frame().rename(columns={"kepid": "KIC_ID"})
    with pytest.raises(CatalogSchemaError) as caught:
        normalize(frame, SPECS["mcquillan2014"], source_path=SOURCE)
    error = caught.value
    assert error.missing == ["KID"]
    assert error.similar == {"KID": ["KIC_ID"]}
    assert error.unexpected == ["KIC_ID"]
    assert str(error).startswith(SOURCE) and "'KID'" in str(error) and "KIC_ID" in str(error)
    assert isinstance(error, CatalogReadError)


@pytest.mark.parametrize("key", ["KID", "kepid"])
def test_mcquillan_key_is_read_under_either_published_name(key: str) -> None:
    """Most copies of McQuillan 2014 Table 1 say KID, some (the real one here) kepid."""
    frame = _mcquillan_frame().rename(columns={"kepid": key})
    table = normalize(frame, SPECS["mcquillan2014"], source_path=SOURCE).table
    assert table["kic"].tolist() == [892376, 1026146]


def test_missing_columns_are_all_listed() -> None:
    frame = _mcquillan_frame().drop(columns=["Prot", "Prot_err"])
    with pytest.raises(CatalogSchemaError, match=r"\['Prot', 'Prot_err'\]") as caught:
        normalize(frame, SPECS["mcquillan2014"], source_path=SOURCE)
    assert caught.value.missing == ["Prot", "Prot_err"]


def test_optional_column_absent_becomes_all_missing() -> None:
    spec = SPECS["mcquillan2014"]
    spec = replace(spec, required=spec.required - {"Flag", "DC"})
    table = normalize(_mcquillan_frame().drop(columns=["Flag", "DC"]), spec, source_path=SOURCE)
    assert table.table["flag"].isna().all() and table.table["dc"].dtype == "Int64"
    assert table.table["dc"].isna().all()


def _lamost_frame(rows: int = 3) -> pd.DataFrame:
    spec = SPECS["lamost_lrs_stellar"]
    frame = pd.DataFrame({name: [1.0] * rows for name in spec.columns})
    for name in ("uid", "designation", "obsdate", "planid", "class", "subclass", "tsource"):
        frame[name] = ["x"] * rows
    frame["obsid"] = [str(101005 + i) for i in range(rows)]
    frame["gaia_source_id"] = [str(2050232089348169000 + i) for i in range(rows)]
    frame["offset"] = ["0"] * rows
    return frame


def test_lamost_sentinels_become_missing_and_text_is_stripped() -> None:
    frame = _lamost_frame()
    frame["teff"] = [-9999.0, 5800.0, 6100.0]
    frame["gaia_source_id"] = ["-9999", BIG_GAIA_ID, None]
    frame["mag_ps_g"] = [-9999, 15.2, 14.1]
    frame["offset"] = ["0", "1", "-9999"]
    frame["tcomment"] = ["  kplr008098300 ", "", "x"]
    table = normalize(frame, SPECS["lamost_lrs_stellar"], source_path=SOURCE).table
    assert np.isnan(table["teff"].iloc[0]) and table["teff"].iloc[1] == 5800.0
    assert np.isnan(table["mag_ps_g"].iloc[0])
    assert table["gaia_source_id"].tolist() == [None, BIG_GAIA_ID, None]
    assert table["offset"].tolist()[:2] == [False, True] and pd.isna(table["offset"].iloc[2])
    assert table["tcomment"].tolist() == ["kplr008098300", None, "x"]
    assert table["obsid"].dtype == np.int64


def test_lamost_csv_gz_keeps_gaia_and_ps1_ids_exact(tmp_path: Path) -> None:
    frame = _lamost_frame(2)
    frame["gaia_source_id"] = [BIG_GAIA_ID, ""]
    frame["ps_id"] = ["173312911234567891", ""]
    path = tmp_path / "dr8_v2.0_LRS_stellar.csv.gz"
    path.write_bytes(gzip.compress(frame.to_csv(index=False).encode()))
    table = read_catalog(path, SPECS["lamost_lrs_stellar"]).table
    assert table["gaia_source_id"].tolist() == [BIG_GAIA_ID, None]
    assert table["ps_id"].iloc[0] == 173312911234567891 and pd.isna(table["ps_id"].iloc[1])


def test_repeated_lamost_obsid_is_refused() -> None:
    frame = _lamost_frame()
    frame["obsid"] = ["101005", "101006", "101005"]
    with pytest.raises(
        CatalogReadError, match=r"obsid must be unique but 1 rows repeat one \(e.g. \[101005\]\)"
    ):
        normalize(frame, SPECS["lamost_lrs_stellar"], source_path=SOURCE)


def _kepler_gaia_frame(source_id: object) -> pd.DataFrame:
    spec = SPECS["kepler_gaia"]
    frame = pd.DataFrame({name: [1.0, 2.0] for name in spec.columns})
    frame["kepid"] = [892834, 892834]
    frame["source_id"] = source_id
    return frame


def test_gaia_ids_from_int64_and_integer_looking_text() -> None:
    spec = SPECS["kepler_gaia"]
    as_int = _kepler_gaia_frame(np.array([int(BIG_GAIA_ID), 5], dtype=np.int64))
    table = normalize(as_int, spec, source_path=SOURCE).table
    # Several Gaia rows per kic are part of this catalog.
    assert table["kic"].tolist() == [892834, 892834]
    assert table["gaia_source_id"].tolist() == [BIG_GAIA_ID, "5"]
    as_text = _kepler_gaia_frame([f"{BIG_GAIA_ID}.0", f" {BIG_GAIA_ID} "])
    assert normalize(as_text, spec, source_path=SOURCE).table["gaia_source_id"].tolist() == [
        BIG_GAIA_ID,
        BIG_GAIA_ID,
    ]


@pytest.mark.parametrize(
    "source_id",
    [np.array([2.050232089348169728e18, 1.0]), ["2.0502320893481697e+18", "1"]],
    ids=["float64 column", "float text"],
)
def test_float_gaia_ids_are_refused(source_id: object) -> None:
    with pytest.raises(CatalogReadError, match=r"'source_id'.*Gaia ids"):
        normalize(_kepler_gaia_frame(source_id), SPECS["kepler_gaia"], source_path=SOURCE)


def test_unparseable_values_and_keys_are_quarantined_with_a_reason() -> None:
    frame = _mcquillan_frame()
    frame = pd.concat([frame, frame.iloc[[0, 0, 0, 1]]], ignore_index=True).astype(object)
    frame.loc[2, "kepid"] = "KIC-abc"
    frame.loc[3, "kepid"] = None
    frame.loc[4, "kepid"] = 5000001
    frame.loc[4, "Prot"] = "fast"
    result = normalize(frame, SPECS["mcquillan2014"], source_path=SOURCE)
    assert result.table["kic"].tolist() == [892376, 1026146]
    rejected = result.rejected.set_index("row")
    assert rejected.loc[2, "reason"] == "unparseable kepid value 'KIC-abc'"
    assert rejected.loc[3, "reason"] == "missing kepid"
    assert rejected.loc[4, "reason"] == "unparseable Prot value 'fast'"
    assert rejected.loc[5, "reason"] == "repeated kepid 1026146 (first row kept)"
    assert rejected.loc[4, "prot"] == "fast"  # the published value, for the record
    assert list(result.rejected.columns) == [
        "row",
        *SPECS["mcquillan2014"].columns.values(),
        "reason",
    ]


def test_flags_become_booleans() -> None:
    spec = SPECS["godoy_rivera2025"]
    frame = pd.DataFrame({name: ["1"] * 5 for name in spec.columns})
    frame["KIC"] = [1, 2, 3, 4, 5]
    frame["source_id"] = ["11", "12", "13", "14", "15"]
    frame["flag_CMD"] = ["Subgiant"] * 5
    frame["flag_RUWE"] = [0, 1, True, None, "False"]
    frame["flag_NSS"] = ["true", "0", "1", "F", "maybe"]
    result = normalize(frame, spec, source_path=SOURCE)
    assert result.table["flag_ruwe"].dtype == "boolean"
    assert result.table["flag_ruwe"].tolist()[:3] == [False, True, True]
    assert pd.isna(result.table["flag_ruwe"].iloc[3])
    assert result.table["flag_nss"].tolist() == [True, False, True, False]
    assert result.rejected["reason"].tolist() == ["unparseable flag_NSS value 'maybe'"]
