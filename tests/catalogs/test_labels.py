"""Labels and star ids: on a synthetic sky against its truth, and on hand-made edge cases."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from catalogs.crossmatch import crossmatch
from catalogs.labels import (
    LABEL_TABLES,
    LabelConfig,
    ages,
    binary_labels,
    build_labels,
    main_sequence,
    rotation_periods,
    star_ids,
)
from catalogs.labels.splits import split_of
from catalogs.normalize import read_catalog
from catalogs.specs import SPECS
from desa.sky.catalogs import write_catalogs
from desa.sky.population import SkyConfig, draw_stars, draw_visits


@dataclass(frozen=True)
class Sky:
    tables: dict[str, pd.DataFrame]
    crossmatch: pd.DataFrame
    stars: pd.DataFrame  # truth, one row per star
    visits: pd.DataFrame  # truth, one row per spectrum


@pytest.fixture(scope="module")
def sky(tmp_path_factory: pytest.TempPathFactory) -> Sky:
    """The demo sky's catalogs only (no FITS files: labels read catalogs), 800 stars."""
    root = Path(tmp_path_factory.mktemp("sky"))
    stars = draw_stars(SkyConfig(n_stars=800), seed=11)
    visits = draw_visits(stars, seed=11)
    for band, factor in zip("ugriz", (0.5, 1.0, 1.05, 0.8, 0.55), strict=True):
        visits[f"snr{band}"] = visits["snr_g_target"] * factor
    write_catalogs(root, stars, visits, seed=11)
    tables = {
        name: read_catalog(root / spec.mirror_path, spec).table
        for name, spec in SPECS.items()
        if spec.mirror_path is not None
    }
    matches = crossmatch(tables["lamost_lrs_stellar"], tables["kepler_gaia"])
    return Sky(tables, matches, stars, visits)


def _kepler_truth(sky: Sky) -> pd.DataFrame:
    kepler = sky.stars.dropna(subset=["kic"])
    return kepler.astype({"kic": np.int64}).rename(columns={"star_id": "truth"})


def _indexes(sky: Sky) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Most spectra and light curves processed; every 7th spectrum and 9th star left out."""
    obsids = np.sort(sky.visits["obsid"].to_numpy())
    kics = np.sort(_kepler_truth(sky)["kic"].to_numpy())
    return pd.DataFrame({"obsid": obsids[np.arange(len(obsids)) % 7 != 3]}), pd.DataFrame(
        {"kic": kics[np.arange(len(kics)) % 9 != 4]}
    )


@pytest.fixture(scope="module")
def labels(sky: Sky) -> dict[str, pd.DataFrame]:
    spectra_index, lightcurve_index = _indexes(sky)
    return build_labels(sky.tables, sky.crossmatch, spectra_index, lightcurve_index, LabelConfig())


# ------------------------------------------------------------------------------------------
# Star identity and splits on the sky


def test_one_id_per_true_star_for_spectra_and_light_curves(sky: Sky) -> None:
    ids = star_ids(sky.tables["lamost_lrs_stellar"], sky.crossmatch, sky.tables["kepler_gaia"])
    spectra = ids.spectra.merge(sky.visits[["obsid", "star_id"]], on="obsid", suffixes=("", "_t"))
    assert len(spectra) == len(sky.visits)
    assert (spectra.groupby("star_id_t")["star_id"].nunique() == 1).all()
    assert (spectra.groupby("star_id")["star_id_t"].nunique() == 1).all()
    kepler = _kepler_truth(sky)
    by_kic = pd.Series(ids.of_kics(kepler["kic"]), index=kepler["truth"].to_numpy())
    matched = spectra[spectra["kic"].notna()]
    assert (matched["star_id"].to_numpy() == by_kic.loc[matched["star_id_t"]].to_numpy()).all()
    assert by_kic.is_unique
    assert set(ids.spectra["id_source"]) >= {"gaia_kepler", "gaia_lamost"}


def test_ids_do_not_move_when_spectra_are_added(sky: Sky) -> None:
    lamost, kepler_gaia = sky.tables["lamost_lrs_stellar"], sky.tables["kepler_gaia"]
    full = star_ids(lamost, sky.crossmatch, kepler_gaia).spectra.set_index("obsid")["star_id"]
    early = lamost.iloc[: len(lamost) // 2]
    partial = star_ids(early, crossmatch(early, kepler_gaia), kepler_gaia).spectra
    assert len(partial) == len(early)
    assert (partial.set_index("obsid")["star_id"] == full.loc[partial["obsid"]]).all()


def test_every_table_has_star_ids_and_their_splits(labels: dict[str, pd.DataFrame]) -> None:
    assert set(labels) == set(LABEL_TABLES)
    for name, table in labels.items():
        assert len(table) > 0, name
        assert table["star_id"].map(type).eq(str).all(), name
        assert (table["split"] == table["star_id"].map(split_of)).all(), name
    assert set(labels["spectra_labels"]["split"]) == {"train", "val", "test"}


def test_repeat_spectra_and_their_light_curve_share_a_split(
    sky: Sky, labels: dict[str, pd.DataFrame]
) -> None:
    spectra = labels["spectra_labels"].merge(sky.visits[["obsid", "star_id"]], on="obsid")
    repeats = spectra.groupby("star_id_y").filter(lambda g: len(g) > 1)
    assert repeats["star_id_y"].nunique() > 20
    assert (repeats.groupby("star_id_y")["split"].nunique() == 1).all()
    lc_split = labels["lightcurve_labels"].set_index("kic")["split"]
    pairs = labels["pairs"]
    assert (pairs["split"].to_numpy() == lc_split.loc[pairs["kic"]].to_numpy()).all()


# ------------------------------------------------------------------------------------------
# Task tables on the sky


def test_spectra_labels_are_the_processed_spectra_with_lamost_values(
    sky: Sky, labels: dict[str, pd.DataFrame]
) -> None:
    spectra_index, _ = _indexes(sky)
    table = labels["spectra_labels"]
    assert list(table["obsid"]) == sorted(spectra_index["obsid"])
    lamost = sky.tables["lamost_lrs_stellar"].set_index("obsid").loc[table["obsid"]]
    for column in ("teff", "logg_err", "feh", "snrg", "snrz"):
        np.testing.assert_array_equal(table[column].to_numpy(), lamost[column].to_numpy())


def test_pairs_are_processed_spectra_of_stars_with_stored_light_curves(
    sky: Sky, labels: dict[str, pd.DataFrame]
) -> None:
    spectra_index, lightcurve_index = _indexes(sky)
    links = sky.crossmatch
    expected = links[
        links["obsid"].isin(spectra_index["obsid"]) & links["kic"].isin(lightcurve_index["kic"])
    ]
    pairs = labels["pairs"]
    assert sorted(pairs["obsid"]) == sorted(expected["obsid"])
    assert len(expected) < len(links)  # the left-out spectra and light curves do drop pairs
    truth = sky.visits.set_index("obsid").loc[pairs["obsid"]]
    assert (truth["kic"].astype(np.int64).to_numpy() == pairs["kic"].to_numpy()).mean() > 0.97
    berger = sky.tables["berger2020"].set_index("kic")["radius"]
    with_radius = pairs["kic"].isin(berger.index)
    assert (~with_radius).any() and pairs.loc[~with_radius, "rstar"].isna().all()
    np.testing.assert_array_equal(
        pairs.loc[with_radius, "rstar"], berger.loc[pairs.loc[with_radius, "kic"]]
    )
    assert pairs["prot"].notna().mean() > 0.7 and pairs["ruwe"].notna().mean() > 0.9


def test_binary_labels_agree_with_the_truth(sky: Sky, labels: dict[str, pd.DataFrame]) -> None:
    table = labels["binary"].merge(_kepler_truth(sky)[["kic", "is_binary"]], on="kic")
    binary, single = table[table["label"] == "binary"], table[table["label"] == "single"]
    assert len(binary) > 50 and len(single) > 300
    assert binary["is_binary"].mean() > 0.97  # precision of "binary"
    # Wide binaries are invisible to every method: with 45% binaries (Raghavan et al. 2010)
    # about a quarter of the "singles" have an undetected companion.
    assert (~single["is_binary"]).mean() > 0.7
    assert table["label"].isna().sum() > 0


def test_prot_cmd_hr_ages_kinematics_follow_their_catalogs(
    sky: Sky, labels: dict[str, pd.DataFrame]
) -> None:
    lc = labels["lightcurve_labels"]
    lightpred = sky.tables["lightpred2025"].set_index("kic")["prot"]
    first = lc[lc["kic"].isin(lightpred.index)]
    assert (first["prot_source"] == "lightpred2025").all()
    np.testing.assert_array_equal(first["prot"], lightpred.loc[first["kic"]])
    assert lc["prot_source"].nunique() >= 3
    cmd = labels["cmd"].set_index("kic")
    godoy = sky.tables["godoy_rivera2025"].set_index("kic")
    assert (cmd["cmd_class"] == godoy.loc[cmd.index, "cmd_class"]).all()
    kepler = _kepler_truth(sky).set_index("kic")
    hr = labels["hr"].set_index("kic")
    assert np.corrcoef(np.log(hr["lum"]), np.log(kepler.loc[hr.index, "lum"]))[0, 1] > 0.95
    age = labels["ages"].set_index("kic")
    assert set(age["age_source"]) == {"bouma2024", "lu2024"}
    true_age = kepler.loc[age.index, "age_gyr"]
    assert np.median(np.abs(np.log(age["age_gyr"] / true_age))) < 0.3
    fast = labels["fast_rotators"]
    assert len(fast) > 10 and (fast["prot"] < 7.0).all() and fast["delta_k_iso"].notna().all()
    kin = labels["kinematics"]
    assert np.allclose(kin["sigma"] ** 2 * 3, kin["u"] ** 2 + kin["v"] ** 2 + kin["w"] ** 2)


def test_missing_catalogs_leave_missing_columns(sky: Sky) -> None:
    spectra_index, lightcurve_index = _indexes(sky)
    dropped = ("berger2020", "berger2020_input", "lightpred2025", "godoy_rivera2025", "chen2021")
    tables = {k: v for k, v in sky.tables.items() if k not in dropped}
    out = build_labels(tables, sky.crossmatch, spectra_index, lightcurve_index, LabelConfig())
    full = build_labels(sky.tables, sky.crossmatch, spectra_index, lightcurve_index, LabelConfig())
    for name in LABEL_TABLES:
        assert list(out[name].columns) == list(full[name].columns), name
    pairs = out["pairs"]
    assert len(pairs) == len(full["pairs"])
    assert pairs["rstar"].isna().all() and pairs["ruwe"].isna().all()
    assert pairs["prot"].notna().any() and "lightpred2025" not in set(pairs["prot_source"])
    assert out["cmd"].empty and out["hr"].empty and out["kinematics"].empty
    binary = out["binary"]
    assert binary["in_binary_union"].isna().all() and "single" not in set(binary["label"])
    assert (binary["label"] == "binary").sum() > 10  # RUWE from Kepler-Gaia, Kepler EBs

    nothing = build_labels(
        {}, sky.crossmatch.iloc[:0], spectra_index, lightcurve_index, LabelConfig()
    )
    assert nothing["spectra_labels"]["teff"].isna().all()
    assert nothing["spectra_labels"]["star_id"].str.startswith("obsid:").all()
    assert nothing["lightcurve_labels"]["star_id"].str.startswith("kic:").all()
    assert nothing["pairs"].empty and nothing["binary"].empty and nothing["ages"].empty
    for name in LABEL_TABLES:
        assert list(nothing[name].columns) == list(full[name].columns), name


# ------------------------------------------------------------------------------------------
# Hand-made cases


def _lamost(rows: list[tuple[int, str | None, str | None]]) -> pd.DataFrame:
    obsid, gaia, designation = zip(*rows, strict=True)
    return pd.DataFrame({"obsid": obsid, "gaia_source_id": gaia, "designation": designation})


def _kepler_gaia(rows: list[tuple[int, str, float]]) -> pd.DataFrame:
    kic, gaia, dist = zip(*rows, strict=True)
    return pd.DataFrame({"kic": kic, "gaia_source_id": gaia, "kepler_gaia_ang_dist": dist})


def test_star_id_order_and_blends() -> None:
    lamost = _lamost(
        [
            (1, "111", "J1"),  # matched to kic 10: the KIC's nearest Gaia source wins
            (2, "222", "J2"),  # matched to kic 20, which has no Gaia row
            (3, "333", "J3"),  # unmatched: LAMOST's Gaia id
            (4, None, " J4 "),  # unmatched, no Gaia id: designation
            (5, None, None),  # nothing
            (6, "555", "J6"),  # matched to kic 30, blended with kic 40 in Kepler-Gaia
            (7, "999", "J7"),  # unmatched, but its Gaia id is kic 10's: same star
        ]
    )
    kepler_gaia = _kepler_gaia(
        [(10, "900", 0.6), (10, "999", 0.1), (30, "555", 0.2), (40, "555", 0.3)]
    )
    links = pd.DataFrame({"obsid": [1, 2, 6], "kic": [10, 20, 30]})
    ids = star_ids(lamost, links, kepler_gaia)
    got = ids.spectra.set_index("obsid")
    assert list(got["star_id"]) == ["999", "kic:20", "333", "lamost:J4", "obsid:5", "kic:30", "999"]
    assert list(got["id_source"]) == [
        "gaia_kepler", "kic", "gaia_lamost", "designation", "obsid", "kic", "gaia_lamost",
    ]  # fmt: skip
    assert list(ids.of_kics([10, 20, 40, 77])) == ["999", "kic:20", "kic:40", "kic:77"]
    assert list(ids.of_obsids([3, 8])) == ["333", "obsid:8"]
    with pytest.raises(TypeError, match="float"):
        star_ids(lamost, links, kepler_gaia.astype({"gaia_source_id": float}))


def test_prot_priority_is_honoured() -> None:
    def catalog(kics: list[int], prots: list[float]) -> pd.DataFrame:
        return pd.DataFrame({"kic": kics, "prot": prots, "prot_err": [0.1] * len(kics)})

    tables = {
        "lightpred2025": catalog([1, 2, 3], [10.0, np.nan, 0.0]),
        "santos2021": catalog([2, 3, 4], [20.0, 21.0, 22.0]),
        "mcquillan2014": catalog([1, 4, 5], [30.0, 31.0, 32.0]),
        "reinhold2023": catalog([5, 6], [40.0, 41.0]),
    }
    got = rotation_periods(tables, LabelConfig().prot_priority).set_index("kic")
    assert list(got["prot"]) == [10.0, 20.0, 21.0, 22.0, 32.0, 41.0]
    assert list(got["prot_source"]) == [
        "lightpred2025", "santos2021", "santos2021", "santos2021", "mcquillan2014", "reinhold2023",
    ]  # fmt: skip
    reordered = rotation_periods(tables, ("reinhold2023", "mcquillan2014")).set_index("kic")
    assert list(reordered.index) == [1, 4, 5, 6] and reordered.loc[5, "prot"] == 40.0


def _godoy(**columns: list) -> pd.DataFrame:
    n = len(columns["kic"])
    frame = pd.DataFrame({"kic": columns.pop("kic"), "ruwe": columns.pop("ruwe", [1.0] * n)})
    for flag in ("flag_binary_union", "flag_ruwe", "flag_nss", "flag_rvvariable"):
        frame[flag] = pd.array(columns.pop(flag, [False] * n), dtype="boolean")
    frame["flag_eb_kepler"] = pd.array([False] * n, dtype="boolean")
    frame["flag_eb_gaia"] = pd.array(columns.pop("flag_eb_gaia", [False] * n), dtype="boolean")
    assert not columns
    return frame


def test_binary_criteria_boundaries() -> None:
    godoy = _godoy(
        kic=[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13],
        ruwe=[1.0, 1.1999, 1.2, 1.4, 1.4001, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, np.nan],
        flag_binary_union=[False] * 5 + [True, True, True, False, False, False, True, False],
        flag_nss=[False] * 5 + [True] + [False] * 7,
        flag_rvvariable=[False] * 6 + [True] + [False] * 6,
        flag_eb_gaia=[False] * 7 + [True] + [False] * 5,
        flag_ruwe=[False] * 12 + [True],
    )
    kp = pd.DataFrame(
        {
            "kic": [9, 10, 11],
            "delta_k_iso": [-0.3, -0.2999, -0.1],
            "sync_binary_candidate": pd.array([False, False, True], dtype="boolean"),
        }
    )
    eb = pd.DataFrame({"kic": [14]})
    tables = {"godoy_rivera2025": godoy, "kamai_perets2025b": kp, "kepler_eb": eb}
    got = binary_labels(tables, LabelConfig()).set_index("kic")["label"]
    expected = {
        1: "single",
        2: "single",  # RUWE just below 1.2
        3: None,  # RUWE on the single cut: not single, not binary
        4: None,  # RUWE on the binary cut
        5: "binary",  # RUWE just above 1.4
        6: "binary",  # NSS
        7: "binary",  # RV variable
        8: "binary",  # Gaia eclipses
        9: None,  # ΔK_iso on the cut: luminosity excess not excluded
        10: "single",  # ΔK_iso just above the cut
        11: None,  # Kamai & Perets 2025b synchronised-binary candidate
        12: None,  # in the Binary Union by another method (e.g. SB9, photometric binary)
        13: "binary",  # no RUWE value: Godoy-Rivera's flag_RUWE
        14: "binary",  # Kepler EB catalog only
    }
    assert got.to_dict() == expected
    strict = binary_labels(tables, LabelConfig(require_delta_k=True)).set_index("kic")["label"]
    assert strict[[1, 2, 10]].tolist() == [None, None, "single"]
    looser = LabelConfig(ruwe_single_max=1.3, ruwe_binary_min=1.3, delta_k_single_min=-0.31)
    changed = binary_labels(tables, looser).set_index("kic")["label"]
    assert changed[[3, 4, 9]].tolist() == ["single", "binary", "single"]


def test_ages_precedence_and_units() -> None:
    bouma = pd.DataFrame(
        {
            "kic": [1, 2],
            "age_myr": [500.0, np.nan],
            "age_err_hi_myr": [100.0, 1.0],
            "age_err_lo_myr": [50.0, 1.0],
        }
    )
    lu = pd.DataFrame(
        {"kic": [1, 2, 3], "age_gyr": [0.9, 2.0, 5.0], "age_err_hi": [0.2, 0.4, 1.0]}
    ).assign(age_err_lo=[0.1, -0.2, np.nan])
    tables = {"bouma2024": bouma, "lu2024": lu}
    got = ages(tables, LabelConfig().age_priority).set_index("kic")
    assert got["age_source"].tolist() == ["bouma2024", "lu2024", "lu2024"]
    np.testing.assert_allclose(got["age_gyr"], [0.5, 2.0, 5.0])
    np.testing.assert_allclose(got["age_err"], [0.075, 0.3, 1.0])
    assert ages(tables, ("lu2024",)).set_index("kic").loc[1, "age_gyr"] == 0.9


def test_fast_rotators_kinematics_and_dwarf_cut() -> None:
    kp = pd.DataFrame(
        {
            "kic": [1, 2, 3],
            "prot": [2.0, 6.99, 7.0],
            "delta_k_iso": [-0.5, 0.0, 0.1],
            "binary_prob": [0.9, 0.1, 0.0],
            "sync_binary_candidate": pd.array([True, False, False], dtype="boolean"),
        }
    )
    chen = pd.DataFrame({"kic": [5], "u": [3.0], "v": [-4.0], "w": [12.0]})
    out = build_labels(
        {"kamai_perets2025b": kp, "chen2021": chen},
        pd.DataFrame({"obsid": [], "kic": []}),
        pd.DataFrame({"obsid": []}),
        pd.DataFrame({"kic": []}),
        LabelConfig(),
    )
    assert out["fast_rotators"]["kic"].tolist() == [1, 2]
    kin = out["kinematics"].iloc[0]
    assert kin["v_pec"] == 13.0 and kin["sigma"] == pytest.approx(13.0 / np.sqrt(3.0))
    assert np.isnan(kin["u_err"])
    teff = pd.Series([6000.0, 6000.0, 4250.0, 4250.0, 5000.0, 5000.0, np.nan])
    logg = pd.Series([3.5, 3.49, 4.0, 3.99, 3.81, 3.79, 4.5])
    assert main_sequence(teff, logg).tolist() == [True, False, True, False, True, False, pd.NA]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"prot_priority": ("lightpred2025", "gaia")},
        {"prot_priority": ()},
        {"age_priority": ("lu2024", "lu2024")},
        {"ruwe_single_max": 1.5},
        {"delta_k_single_min": float("nan")},
        {"fast_rotator_prot_max": 0.0},
        {"split_fractions": (0.9, 0.2, 0.0)},
    ],
)
def test_label_config_refuses_bad_settings(kwargs: dict) -> None:
    with pytest.raises(ValueError, match="LabelConfig"):
        LabelConfig(**kwargs)
