"""The spec table matches docs/catalogs.md and refuses inconsistent specs."""

from __future__ import annotations

import re
from dataclasses import replace

import pytest

from catalogs.specs import (
    FORMATS,
    SPECS,
    CatalogSpec,
    LamostCatalogSource,
    UrlSource,
    VizierSource,
)
from tests.support.paths import REPO_ROOT


def _docs_rows() -> dict[str, str | None]:
    """spec name -> mirror path, from the table in docs/catalogs.md."""
    rows = {}
    for line in (REPO_ROOT / "docs" / "catalogs.md").read_text().splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        name = re.fullmatch(r"`(\w+)`", cells[0]) if len(cells) >= 4 else None
        if name:
            mirror = re.fullmatch(r"`([^`]+)`", cells[2])
            rows[name.group(1)] = mirror.group(1) if mirror else None
    return rows


def test_every_row_of_the_docs_table_has_a_spec_with_its_mirror_path() -> None:
    rows = _docs_rows()
    assert len(rows) == 18
    assert set(SPECS) == set(rows)
    for name, mirror_path in rows.items():
        assert SPECS[name].mirror_path == mirror_path, name


@pytest.mark.parametrize("spec", SPECS.values(), ids=list(SPECS))
def test_spec_is_consistent(spec: CatalogSpec) -> None:
    assert spec.format in FORMATS
    assert spec.required, "a spec without required columns would accept any file"
    assert spec.published_key in spec.required
    assert spec.dtypes[spec.key] == ("str" if spec.name == "apogee_dr17" else "int64")
    assert spec.citation and spec.description
    # Normalised names are lower case (docs/catalogs.md) and Gaia ids never float.
    assert all(name == name.lower() for name in spec.columns.values())
    for published, name in spec.columns.items():
        if name.endswith("source_id"):
            assert spec.dtypes[name] == "gaia_id", name
            assert published in spec.text_columns
    if isinstance(spec.source, VizierSource):
        assert spec.format == "vizier_tsv"
        assert spec.source.catalog_id in spec.citation
    if isinstance(spec.source, UrlSource):
        assert spec.source.url.startswith("https://")


def test_lamost_spec_has_the_47_published_columns_in_order() -> None:
    spec = SPECS["lamost_lrs_stellar"]
    names = list(spec.columns)
    assert len(names) == 47
    assert names[:4] == ["obsid", "uid", "gp_id", "designation"]
    assert names[-3:] == ["rv_err", "alpha_m", "alpha_m_err"]
    assert spec.key == "obsid" and spec.duplicates == "error"
    assert spec.dtypes["gaia_source_id"] == "gaia_id"
    assert {"obsid", "gp_id", "ps_id", "gaia_source_id"} <= spec.text_columns
    assert spec.source == LamostCatalogSource("stellar")


def test_key_examples_from_the_docs_table() -> None:
    assert SPECS["kepler_gaia"].columns["source_id"] == "gaia_source_id"
    assert SPECS["kepler_gaia"].duplicates == "allow"
    assert SPECS["lightpred2025"].columns["predicted period"] == "prot"
    assert SPECS["santos2019"].columns["Fl3"] == "flag3"
    assert SPECS["berger2020"].columns["iso_dis_err2"] == "dist_pc_err2"
    assert SPECS["bouma2024"].columns["tGyro"] == "age_myr"
    assert SPECS["godoy_rivera2025"].dtypes["flag_binary_union"] == "bool"
    assert SPECS["kepler_eb"].numeric_sentinels == (-1.0,)


def test_inconsistent_spec_is_refused() -> None:
    spec = SPECS["mcquillan2014"]
    with pytest.raises(ValueError, match="dtypes must name every normalised column"):
        replace(spec, dtypes={**spec.dtypes, "extra": "float64"})
    with pytest.raises(ValueError, match="key must be"):
        replace(spec, key="teff")
    with pytest.raises(ValueError, match="unknown format"):
        replace(spec, format="xlsx")


def test_specs_cannot_be_edited() -> None:
    with pytest.raises(TypeError):
        SPECS["mcquillan2014"].columns["KID"] = "kid"  # type: ignore[index]
    with pytest.raises(TypeError):
        SPECS["new"] = SPECS["mcquillan2014"]  # type: ignore[index]
