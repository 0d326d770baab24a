"""crossmatch: method priority, repeat spectra, blends, precision/recall on a random field."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from astropy import units as u
from astropy.coordinates import SkyCoord

from catalogs.crossmatch import crossmatch

ARCSEC = 1.0 / 3600.0
RA0, DEC0 = 291.0, 44.0  # in the Kepler field, where cos(dec) matters
COS0 = np.cos(np.deg2rad(DEC0))


def _at(east_arcsec: float, north_arcsec: float) -> tuple[float, float]:
    """A position offset from (RA0, DEC0) by arcsec on the sky."""
    return RA0 + east_arcsec * ARCSEC / COS0, DEC0 + north_arcsec * ARCSEC


def _kepler(rows: list[tuple[int, tuple[float, float], str | None]]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "kic": [kic for kic, _, _ in rows],
            "ra": [pos[0] for _, pos, _ in rows],
            "dec": [pos[1] for _, pos, _ in rows],
            "gaia_source_id": [gaia for _, _, gaia in rows],
        }
    )


def _lamost(rows: list[dict[str, object]]) -> pd.DataFrame:
    frame = pd.DataFrame(rows)
    frame["ra"] = [row["pos"][0] for row in rows]  # type: ignore[index]
    frame["dec"] = [row["pos"][1] for row in rows]  # type: ignore[index]
    return frame.drop(columns=["pos"])


def _by_obsid(result: pd.DataFrame) -> dict[int, tuple[int, str]]:
    return {row.obsid: (row.kic, row.method) for row in result.itertuples()}


KEPLER = _kepler(
    [
        (1, _at(60, 0), "1001"),  # far from every spectrum
        (2, _at(0, 60), "1002"),
        (3, _at(0, 0), "1003"),
    ]
)


def test_lk_link_beats_gaia_id_which_beats_position() -> None:
    near_3 = _at(0.5, 0)
    lamost = _lamost(
        [
            dict(
                obsid=10,
                pos=near_3,
                tsource="Kepler",
                tcomment="kplr000000001",
                gaia_source_id="1002",
            ),
            dict(
                obsid=11, pos=near_3, tsource="PS1", tcomment="kplr000000002", gaia_source_id="1001"
            ),
            dict(obsid=12, pos=near_3, tsource="PS1", tcomment="", gaia_source_id=None),
            # A link to a kic that is not in the Kepler table is not a link.
            dict(
                obsid=13,
                pos=near_3,
                tsource="Kepler",
                tcomment="kplr000000099",
                gaia_source_id=None,
            ),
        ]
    )
    result = crossmatch(lamost, KEPLER)
    assert _by_obsid(result) == {
        10: (1, "lk_link"),
        11: (1, "gaia_id"),
        12: (3, "position"),
        13: (3, "position"),
    }
    # The separation is always measured, also for links far beyond the radius.
    sep = result.set_index("obsid")["sep_arcsec"]
    assert sep[10] == pytest.approx(np.hypot(59.5, 0), rel=1e-3)
    assert sep[12] == pytest.approx(0.5, rel=1e-3)
    assert list(result.columns) == [
        "obsid",
        "kic",
        "method",
        "sep_arcsec",
        "ambiguous",
        "n_candidates",
    ]


def test_three_spectra_of_one_star_map_to_one_kic() -> None:
    kepler = _kepler([(7, _at(0, 0), None), (8, _at(2.0, 0), None)])
    lamost = _lamost(
        [
            dict(obsid=1, pos=_at(0.3, 0), tsource="Kepler", tcomment="kplr000000007", uid="s1"),
            dict(obsid=2, pos=_at(-0.2, 0.2), tsource="PS1", tcomment="", uid="s1"),
            # Jittered nearer the neighbour, but the same star (uid): it keeps the star's kic.
            dict(obsid=3, pos=_at(1.2, 0), tsource="PS1", tcomment="", uid="s1"),
            dict(obsid=4, pos=_at(1.9, 0), tsource="PS1", tcomment="", uid="s2"),
        ]
    )
    result = crossmatch(lamost, kepler).set_index("obsid")
    assert result.loc[[1, 2, 3], "kic"].tolist() == [7, 7, 7]
    assert set(result.loc[[1, 2, 3], "method"]) == {"lk_link"}
    assert result.loc[3, "sep_arcsec"] == pytest.approx(1.2, rel=1e-3)
    assert result.loc[4, "kic"] == 8


def test_repeat_spectra_grouped_by_gaia_id_without_uid() -> None:
    kepler = _kepler([(7, _at(0, 0), None), (8, _at(2.0, 0), None)])
    lamost = _lamost(
        [
            dict(obsid=1, pos=_at(0.1, 0), gaia_source_id="55"),
            dict(obsid=2, pos=_at(1.1, 0), gaia_source_id="55"),
        ]
    )
    assert crossmatch(lamost, kepler)["kic"].tolist() == [7, 7]


def test_two_kepler_stars_one_arcsec_apart_are_ambiguous() -> None:
    kepler = _kepler([(21, _at(0, 0), None), (22, _at(1.0, 0), None), (23, _at(0, 30), None)])
    lamost = _lamost([dict(obsid=1, pos=_at(0.2, 0)), dict(obsid=2, pos=_at(0, 30.3))])
    result = crossmatch(lamost, kepler).set_index("obsid")
    assert (result.loc[1, "kic"], result.loc[1, "ambiguous"], result.loc[1, "n_candidates"]) == (
        21,
        True,
        2,
    )
    assert (result.loc[2, "kic"], result.loc[2, "ambiguous"], result.loc[2, "n_candidates"]) == (
        23,
        False,
        1,
    )


def test_several_gaia_rows_of_one_kic_are_one_candidate() -> None:
    kepler = _kepler([(31, _at(0, 0), "901"), (31, _at(0, 0), "902")])
    lamost = _lamost([dict(obsid=1, pos=_at(0.4, 0), gaia_source_id="902")])
    result = crossmatch(lamost, kepler)
    assert _by_obsid(result) == {1: (31, "gaia_id")}
    assert (result["n_candidates"].iloc[0], result["ambiguous"].iloc[0]) == (1, False)


def test_gaia_id_shared_by_two_kics_is_not_a_link() -> None:
    kepler = _kepler([(41, _at(0, 0), "777"), (42, _at(0, 20), "777")])
    lamost = _lamost([dict(obsid=1, pos=_at(0, 19.5), gaia_source_id="777")])
    assert _by_obsid(crossmatch(lamost, kepler)) == {1: (42, "position")}


def test_star_outside_the_field_and_star_without_position_give_no_row() -> None:
    lamost = _lamost(
        [
            dict(obsid=1, pos=(10.0, -30.0)),
            dict(obsid=2, pos=_at(3.5, 0)),  # just beyond 3"
            dict(obsid=3, pos=(np.nan, np.nan)),
        ]
    )
    assert crossmatch(lamost, KEPLER).empty


def test_ra_wraparound() -> None:
    kepler = _kepler([(51, (359.99995, 10.0), None)])
    lamost = _lamost([dict(obsid=1, pos=(0.00005, 10.0))])
    result = crossmatch(lamost, kepler)
    expected = SkyCoord(359.99995 * u.deg, 10 * u.deg).separation(
        SkyCoord(0.00005 * u.deg, 10 * u.deg)
    )
    assert result["kic"].tolist() == [51]
    assert result["sep_arcsec"].iloc[0] == pytest.approx(expected.arcsec, rel=1e-6)


def test_float_or_malformed_gaia_ids_are_refused() -> None:
    lamost = _lamost([dict(obsid=1, pos=_at(0, 0), gaia_source_id=2.05e18)])
    with pytest.raises(TypeError, match="lamost: gaia_source_id is float64"):
        crossmatch(lamost, KEPLER)
    kepler = KEPLER.assign(gaia_source_id=[1.0, 2.0, 3.0])
    lamost = _lamost([dict(obsid=1, pos=_at(0, 0), gaia_source_id="1002")])
    with pytest.raises(TypeError, match="kepler: gaia_source_id is float64"):
        crossmatch(lamost, kepler)
    mixed = _lamost([dict(obsid=1, pos=_at(0, 0), gaia_source_id="1002")]).astype(object)
    mixed.loc[0, "gaia_source_id"] = 1002.0
    with pytest.raises(TypeError, match="holds floats"):
        crossmatch(mixed, KEPLER)
    lamost = _lamost([dict(obsid=1, pos=_at(0, 0), gaia_source_id="Gaia DR3 1002")])
    with pytest.raises(ValueError, match="not digits"):
        crossmatch(lamost, KEPLER)


def test_int64_gaia_ids_work() -> None:
    kepler = KEPLER.assign(gaia_source_id=np.array([1001, 1002, 1003], dtype=np.int64))
    lamost = _lamost([dict(obsid=1, pos=_at(0, 0))]).assign(
        gaia_source_id=np.array([1002], dtype=np.int64)
    )
    assert _by_obsid(crossmatch(lamost, kepler)) == {1: (2, "gaia_id")}


def test_repeated_obsid_is_refused() -> None:
    lamost = _lamost([dict(obsid=1, pos=_at(0, 0)), dict(obsid=1, pos=_at(0, 0))])
    with pytest.raises(ValueError, match="obsid must be unique"):
        crossmatch(lamost, KEPLER)


def test_precision_and_recall_on_a_random_field() -> None:
    rng = np.random.default_rng(20260901)
    n_kepler = 4000
    # A 2x2 degree patch at the Kepler field's density (~1,000 targets per square degree).
    dec = DEC0 + rng.uniform(-1, 1, n_kepler)
    ra = RA0 + rng.uniform(-1, 1, n_kepler) / np.cos(np.deg2rad(dec))
    kepler = pd.DataFrame({"kic": np.arange(n_kepler) + 100_000, "ra": ra, "dec": dec})
    observed = rng.choice(n_kepler, size=3000, replace=False)
    jitter = rng.normal(0, 0.4, size=(len(observed), 2)) * ARCSEC  # ~0.4" per axis
    n_field = 800  # LAMOST stars that are not Kepler targets
    field_dec = DEC0 + rng.uniform(-1, 1, n_field)
    field_ra = RA0 + rng.uniform(-1, 1, n_field) / np.cos(np.deg2rad(field_dec))
    lamost = pd.DataFrame(
        {
            "obsid": np.arange(len(observed) + n_field),
            "ra": np.concatenate(
                [ra[observed] + jitter[:, 0] / np.cos(np.deg2rad(dec[observed])), field_ra]
            ),
            "dec": np.concatenate([dec[observed] + jitter[:, 1], field_dec]),
        }
    )
    truth = dict(zip(range(len(observed)), kepler["kic"].to_numpy()[observed], strict=True))
    result = crossmatch(lamost, kepler)
    correct = sum(truth.get(row.obsid) == row.kic for row in result.itertuples())
    precision, recall = correct / len(result), correct / len(truth)
    assert precision >= 0.99 and recall >= 0.99, (precision, recall)
    assert (result["method"] == "position").all()
    assert (result["sep_arcsec"] <= 3.0).all()
