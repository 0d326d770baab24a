"""Zarr stores that grow along one dimension and are filled by disjoint, chunk-aligned regions.

The write protocol (pangeo-forge style): create the store from a template (metadata only),
grow the row dimension when rows are allocated, let independent workers write disjoint
chunk-aligned regions, then consolidate the metadata last. Readers open the consolidated
metadata, so they see the store as of the last consolidation, never a half-grown one.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Mapping
from typing import Any

import xarray as xr
import zarr

# xarray/zarr warn that consolidated metadata is not in the Zarr v3 spec; it is what we use
# to publish, deliberately (research/stack.md §2.2).
warnings.filterwarnings("ignore", message="Consolidated metadata is currently not part")


def create(
    url: str, template: xr.Dataset, dim: str, chunk_rows: int, attrs: Mapping[str, Any]
) -> None:
    """Write ``template``'s metadata (and its arrays without ``dim``) as a new, empty store.

    Every variable along ``dim`` is chunked by ``chunk_rows`` rows so regions aligned to
    ``chunk_rows`` never share a chunk.
    """
    encoding = {
        name: {"chunks": tuple(chunk_rows if d == dim else template.sizes[d] for d in var.dims)}
        for name, var in template.variables.items()
        if dim in var.dims
    }
    ds = template.assign_attrs(dict(attrs))
    ds.to_zarr(url, mode="w", compute=False, consolidated=False, encoding=encoding)
    # Arrays without the row dimension (e.g. the wavelength grid) are written once, now.
    fixed = [name for name, var in template.variables.items() if dim not in var.dims]
    if fixed:
        template[fixed].to_zarr(url, mode="r+", consolidated=False)
    zarr.consolidate_metadata(url)


def _group(url: str, mode: str = "r") -> zarr.Group:
    # The writer's view: the arrays as they are now, not as last published.
    return zarr.open_group(url, mode=mode, use_consolidated=False)


def exists(url: str) -> bool:
    try:
        _group(url)
    except (FileNotFoundError, zarr.errors.GroupNotFoundError):
        return False
    return True


def attrs(url: str) -> dict[str, Any]:
    return dict(_group(url).attrs)


def length(url: str, dim: str) -> int:
    return next(_row_arrays(_group(url), dim))[1].shape[0]


def read_array(url: str, name: str) -> Any:
    """One array's current values (including rows written since the last consolidation)."""
    return _group(url)[name][:]


def resize(url: str, dim: str, rows: int) -> None:
    """Grow (or cut back, after an interrupted run) every array along ``dim`` to ``rows``."""
    group = _group(url, mode="r+")
    for axis, array in _row_arrays(group, dim):
        shape = list(array.shape)
        shape[axis] = rows
        array.resize(tuple(shape))


def write_region(url: str, part: xr.Dataset, dim: str, start: int) -> None:
    """Write ``part`` (only variables along ``dim``) into rows ``start:start+len``."""
    rows = part.sizes[dim]
    part = part.drop_vars([n for n, v in part.variables.items() if dim not in v.dims])
    part.to_zarr(url, region={dim: slice(start, start + rows)}, consolidated=False)


def consolidate(url: str) -> None:
    zarr.consolidate_metadata(url)


def open_dataset(url: str) -> xr.Dataset:
    return xr.open_zarr(url, consolidated=True)


def _row_arrays(group: zarr.Group, dim: str) -> Iterator[tuple[int, zarr.Array]]:
    for _, array in group.arrays():
        names = array.metadata.dimension_names or ()
        if dim in names:
            yield names.index(dim), array
