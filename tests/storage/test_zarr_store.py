from pathlib import Path

import numpy as np
import xarray as xr

from storage import zarr_store


def _template() -> xr.Dataset:
    return xr.Dataset(
        {"flux": (("obs", "pixel"), np.zeros((0, 3), "f4"))},
        coords={
            "obsid": (("obs",), np.zeros(0, "i8")),
            "release": (("obs",), np.array([], dtype=np.dtypes.StringDType())),
            "wave": (("pixel",), np.array([1.0, 2.0, 3.0])),
        },
    )


def _part(obsids: list[int]) -> xr.Dataset:
    n = len(obsids)
    return xr.Dataset(
        {"flux": (("obs", "pixel"), np.full((n, 3), 1.5, "f4"))},
        coords={
            "obsid": (("obs",), np.array(obsids, "i8")),
            "release": (("obs",), np.array(["DR9"] * n, dtype=object)),
        },
    )


def test_grow_write_regions_and_consolidate(tmp_path: Path) -> None:
    url = str(tmp_path / "s.zarr")
    zarr_store.create(url, _template(), "obs", chunk_rows=2, attrs={"recipe": "v1"})
    assert zarr_store.exists(url) and zarr_store.length(url, "obs") == 0
    zarr_store.resize(url, "obs", 5)
    # Published view is the last consolidation: still empty until consolidate().
    assert zarr_store.open_dataset(url).sizes["obs"] == 0
    zarr_store.write_region(url, _part([10, 11]), "obs", 0)
    zarr_store.write_region(url, _part([12, 13, 14]), "obs", 2)
    zarr_store.consolidate(url)
    ds = zarr_store.open_dataset(url)
    assert list(ds.obsid.values) == [10, 11, 12, 13, 14]
    assert list(ds.release.values) == ["DR9"] * 5
    assert ds.wave.values.tolist() == [1.0, 2.0, 3.0]
    assert ds.attrs["recipe"] == "v1"
    assert ds.flux.encoding["chunks"] == (2, 3) and ds.release.encoding["chunks"] == (2,)


def test_cut_back_after_an_interrupted_growth(tmp_path: Path) -> None:
    url = str(tmp_path / "s.zarr")
    zarr_store.create(url, _template(), "obs", chunk_rows=2, attrs={})
    zarr_store.resize(url, "obs", 6)
    zarr_store.resize(url, "obs", 3)
    zarr_store.consolidate(url)
    assert zarr_store.length(url, "obs") == 3 and zarr_store.open_dataset(url).sizes["obs"] == 3
