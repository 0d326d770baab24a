"""fetch_vizier through a fake client: what is asked for, what is written, what is refused."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest
from astropy.io import votable
from astropy.table import MaskedColumn, Table
from astroquery.utils.commons import TableList
from astroquery.vizier import tests as vizier_tests

from catalogs.build import build_catalog
from catalogs.errors import CatalogFetchError
from catalogs.normalize import read_catalog
from catalogs.readers import read_published
from catalogs.specs import SPECS
from catalogs.vizier import fetch_vizier
from storage import layout
from storage.download import Downloader
from storage.layout import DataRoot
from storage.tables import read_parquet, read_parquet_metadata

# A real VizieR answer shipped with astroquery's own tests (J/ApJ/706/83, Kang+ 2009).
KANG_VOTABLE = Path(vizier_tests.__file__).parent / "data" / "kang2010.xml"
BIG_GAIA_ID = 2050232089348169729  # not a float64 value: a float round trip changes it


def _kang_tables() -> TableList:
    tables = [
        (table.name, table.to_table(use_names_over_ids=True))
        for resource in votable.parse(KANG_VOTABLE).resources
        for table in resource.tables
    ]
    return TableList(tables)


def _metadata(updated: str | None, created: str = "2010-02-01") -> Table:
    return Table(
        {
            "title": ["a catalog"],
            "created": [created],
            "updated": MaskedColumn([updated or ""], mask=[updated is None]),
        }
    )


class FakeVizier:
    """Stands in for astroquery's Vizier: records how it was built and what was asked."""

    instances: ClassVar[list[FakeVizier]] = []

    def __init__(self, tables: TableList, metadata: Table, **kwargs: Any) -> None:
        self.tables, self.metadata, self.kwargs = tables, metadata, kwargs
        self.asked: list[str] = []
        FakeVizier.instances.append(self)

    def get_catalogs(self, catalog: str) -> TableList:
        self.asked.append(catalog)
        return self.tables

    def get_catalog_metadata(self, *, catalog: str) -> Table:
        self.asked.append(f"metadata:{catalog}")
        return self.metadata


def _factory(tables: TableList, metadata: Table) -> Any:
    FakeVizier.instances.clear()
    return lambda **kwargs: FakeVizier(tables, metadata, **kwargs)


def test_fetch_asks_for_every_column_and_row_and_writes_a_readable_tsv(tmp_path: Path) -> None:
    dest = tmp_path / "vizier" / "J_ApJ_706_83.tsv"
    factory = _factory(_kang_tables(), _metadata("2019-10-04"))
    result = fetch_vizier("J/ApJ/706/83", "ysos", dest, vizier=factory)

    (client,) = FakeVizier.instances
    assert client.kwargs["columns"] == ["**"] and client.kwargs["row_limit"] == -1
    assert client.asked == ["J/ApJ/706/83/ysos", "metadata:J/ApJ/706/83"]
    assert (result.path, result.version_stamp, result.rows) == (str(dest), "2019-10-04", 50)

    original = _kang_tables()["J/ApJ/706/83/ysos"]
    frame = read_published(dest, "vizier_tsv")
    assert list(frame.columns) == original.colnames
    assert len(frame) == 50
    assert frame["SSTGLMC"].tolist() == list(original["SSTGLMC"])
    np.testing.assert_allclose(frame["AV"], np.asarray(original["AV"], dtype=float), rtol=1e-6)
    assert "#version_stamp=2019-10-04" in dest.read_text()
    assert [p.name for p in dest.parent.iterdir()] == [dest.name]  # no temp file left


def test_version_stamp_falls_back_to_created(tmp_path: Path) -> None:
    factory = _factory(_kang_tables(), _metadata(None, created="2010-02-01"))
    result = fetch_vizier("J/ApJ/706/83", None, tmp_path / "t.tsv", vizier=factory)
    assert result.version_stamp == "2010-02-01"
    assert FakeVizier.instances[0].asked[0] == "J/ApJ/706/83"


def test_wrong_or_unnamed_table_is_refused_and_nothing_is_written(tmp_path: Path) -> None:
    two = TableList([("J/X/1/t1", Table({"KIC": [1]})), ("J/X/1/t2", Table({"KIC": [2]}))])
    dest = tmp_path / "t.tsv"
    with pytest.raises(CatalogFetchError, match="expected a single table"):
        fetch_vizier("J/X/1", None, dest, vizier=_factory(two, _metadata("2020-01-01")))
    with pytest.raises(
        CatalogFetchError, match=r"no table 'J/X/1/t3' in \['J/X/1/t1', 'J/X/1/t2'\]"
    ):
        fetch_vizier("J/X/1", "t3", dest, vizier=_factory(two, _metadata("2020-01-01")))
    empty = TableList([("J/X/1/t1", Table({"KIC": np.array([], dtype=int)}))])
    with pytest.raises(CatalogFetchError, match="no rows"):
        fetch_vizier("J/X/1", "t1", dest, vizier=_factory(empty, _metadata("2020-01-01")))
    assert not dest.exists()


def _santos_tables() -> TableList:
    columns: dict[str, Any] = {name: [1.5, 2.5] for name in SPECS["santos2019"].columns}
    columns["KIC"] = [892834, 893033]
    columns["Prot"] = [13.61, 25.94]
    columns["DMK"] = MaskedColumn([0.1, 0.0], mask=[False, True])
    for flag in ("Fl2", "Fl3", "Fl4", "Fl5"):
        columns[flag] = [0, 1]
    columns["Fl1"] = MaskedColumn([1, 0], mask=[True, False])
    columns["Gaia"] = MaskedColumn([BIG_GAIA_ID, 0], mask=[False, True], dtype=np.int64)
    table = Table(columns)
    table["Prot"].unit = "d"
    return TableList([("J/ApJS/244/21/table3", table)])


def test_fetched_santos_table_normalises_with_masked_values_and_exact_ids(tmp_path: Path) -> None:
    spec = SPECS["santos2019"]
    dest = tmp_path / "J_ApJS_244_21.tsv"
    factory = _factory(_santos_tables(), _metadata("2022-06-14"))
    fetch_vizier("J/ApJS/244/21", "table3", dest, vizier=factory)

    normalised = read_catalog(dest, spec).table
    assert normalised["kic"].tolist() == [892834, 893033]
    assert normalised["prot"].tolist() == [13.61, 25.94]
    assert normalised["dmk"].iloc[0] == 0.1 and np.isnan(normalised["dmk"].iloc[1])
    assert normalised["flag1"].isna().tolist() == [True, False]
    ids = read_published(dest, "vizier_tsv", text_columns={"Gaia"})["Gaia"]
    assert ids.iloc[0] == str(BIG_GAIA_ID)


def test_version_stamp_alone_asks_only_for_metadata() -> None:
    from catalogs.vizier import vizier_version_stamp

    FakeVizier.instances.clear()

    def factory(**kwargs: Any) -> FakeVizier:
        return FakeVizier(_kang_tables(), _metadata("2024-05-06"), **kwargs)

    assert vizier_version_stamp("J/ApJ/706/83", vizier=factory) == "2024-05-06"
    assert FakeVizier.instances[-1].asked == ["metadata:J/ApJ/706/83"]


def test_a_vizier_catalog_builds_on_a_data_root_that_is_not_local(
    monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> None:
    root = DataRoot(f"memory://vizier-{request.node.name}")
    monkeypatch.setattr(
        "catalogs.vizier.Vizier", _factory(_santos_tables(), _metadata("2022-06-14"))
    )
    try:
        built = build_catalog(SPECS["santos2019"], root, None, Downloader(root.fs))
        raw = root.path(layout.RAW_CATALOGS, "santos2019.tsv")
        assert root.fs.cat_file(raw).startswith(b"#VizieR table J/ApJS/244/21/table3")
        table = read_parquet(root.fs, built.path)
        assert table["kic"].tolist() == [892834, 893033]
        assert read_parquet_metadata(root.fs, built.path)["version_stamp"] == "2022-06-14"
    finally:
        root.fs.rm(root.path(), recursive=True)
