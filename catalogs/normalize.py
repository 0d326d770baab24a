"""Turn a published catalog frame into its normalised table (names, dtypes, missing values).

``normalize`` checks the published columns against the spec (missing or renamed columns are a
``CatalogSchemaError``), renames to the normalised names, casts each column to its spec dtype,
turns published sentinels into missing values and quarantines rows it cannot trust: a missing
or unparseable key, an unparseable value, a repeated key under the ``keep_first`` policy, or a
file name that is a path (``name_columns``). Quarantined rows are returned, with the reason,
next to the clean table. A column of another type (no value parses) and a file with no usable
row are ``CatalogReadError``s: the file, not a row, is wrong.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from os import PathLike

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from pandas.api import types as ptypes

from catalogs.errors import CatalogReadError, CatalogSchemaError
from catalogs.readers import read_published
from catalogs.specs import CatalogSpec
from storage.names import plain_name_problem

_INT_TEXT = r"^[+-]?\d+(\.0*)?$"  # "123" and "123.0" are exact integers, "1.2e3" is not
# An exponent or a non-zero fraction: the value went through a float and lost digits.
_FLOAT_TEXT = r"^[+-]?(?:\d+\.?\d*|\.\d+)[eE][+-]?\d+$|^[+-]?\d*\.\d*[1-9]\d*$"
_BOOL_TEXT = {"true": True, "t": True, "1": True, "1.0": True}
_BOOL_TEXT |= {"false": False, "f": False, "0": False, "0.0": False}
_EXACT_FLOAT_INT = 2**53  # above this a float64 no longer holds every integer
_EXPECTED = {
    "int64": "integers",
    "Int64": "integers",
    "float64": "numbers",
    "bool": "flags (0/1 or true/false)",
    "gaia_id": "integer Gaia ids",
}

PathArg = str | PathLike[str]


@dataclass(frozen=True)
class NormalizedCatalog:
    """The clean table and the rows left out of it.

    ``table`` has the spec's normalised columns in spec order and dtypes; an integer key is
    numpy int64. ``rejected`` has the same column names holding the published values as text, plus
    ``row`` (0-based data row in the file) and ``reason``.
    """

    table: pd.DataFrame
    rejected: pd.DataFrame


def read_catalog(path: PathArg, spec: CatalogSpec) -> NormalizedCatalog:
    """Read ``path`` in ``spec.format`` and normalise it (ids are read as text, never floats)."""
    frame = read_published(path, spec.format, text_columns=spec.text_columns)
    return normalize(frame, spec, source_path=path)


def normalize(frame: pd.DataFrame, spec: CatalogSpec, *, source_path: PathArg) -> NormalizedCatalog:
    """Normalise a frame read by ``read_published``; ``source_path`` names the file in errors.

    Raises ``CatalogSchemaError`` when required published columns are missing (naming similar
    columns present), ``CatalogReadError`` when a Gaia id column holds floats, when a column
    holds another type, when a key that must be unique (``duplicates="error"``) repeats, or
    when no row is left. A column published under one of its ``spec.aliases`` is read as the
    spec's name.
    """
    frame, in_file = _apply_aliases(frame, spec)
    _check_columns(frame, spec, source_path)
    raw = frame[[name for name in spec.columns if name in frame.columns]].reset_index(drop=True)
    reasons = pd.Series(None, index=raw.index, dtype=object)
    columns: dict[str, pd.Series] = {}
    for published, name in spec.columns.items():
        dtype = spec.dtypes[name]
        if published not in raw.columns:
            columns[name] = _all_missing(dtype, len(raw))
            continue
        values = raw[published]
        sentinels = spec.sentinels.get(name, ())
        if dtype in ("float64", "Int64") and name != spec.key:
            sentinels = (*sentinels, *spec.numeric_sentinels)
        if sentinels:
            if ptypes.is_integer_dtype(values.dtype):
                # Masking a numpy int column would turn it into floats (Gaia ids lose digits).
                values = values.astype("Int64")
            values = values.mask(_is_sentinel(values, sentinels))
        converted, bad = _CASTERS[dtype](values, source_path, published)
        shown = in_file.get(published, published)
        if bad.any():
            _check_column_type(values, bad, dtype, shown, source_path)
            message = f"unparseable {shown} value '" + values[bad].astype(str) + "'"
            reasons = _first_reason(reasons, bad, message)
        if name in spec.name_columns:
            reasons = _refuse_paths(reasons, converted, shown)
        columns[name] = converted
    table = pd.DataFrame(columns, index=raw.index)

    key = spec.key
    published_key = in_file.get(spec.published_key, spec.published_key)
    reasons = _first_reason(reasons, table[key].isna(), f"missing {published_key}")
    repeated = table[key].duplicated(keep="first") & reasons.isna() & table[key].notna()
    if spec.duplicates == "keep_first":
        message = f"repeated {published_key} " + table[key].astype(str) + " (first row kept)"
        reasons = _first_reason(reasons, repeated, message)
    elif spec.duplicates == "error" and repeated.any():
        examples = table.loc[repeated, key].unique()[:5].tolist()
        raise CatalogReadError(
            source_path,
            f"{published_key} must be unique but {int(repeated.sum())} rows repeat one "
            f"(e.g. {examples})",
        )

    keep = reasons.isna()
    if not keep.any():
        first = reasons.index[0]
        raise CatalogReadError(
            source_path,
            f"no usable rows: all {len(keep)} were rejected (row {first}: {reasons[first]})",
        )
    clean = table[keep].reset_index(drop=True)
    if spec.dtypes[key] == "int64":
        clean[key] = clean[key].astype("int64")
    rejected = raw[~keep].rename(columns=spec.columns).astype("string")
    rejected.insert(0, "row", raw.index[~keep].to_numpy())
    rejected["reason"] = reasons[~keep].astype("string")
    return NormalizedCatalog(table=clean, rejected=rejected.reset_index(drop=True))


def _apply_aliases(frame: pd.DataFrame, spec: CatalogSpec) -> tuple[pd.DataFrame, dict[str, str]]:
    """Rename a column published under an alias to the spec's name (when the name is absent);
    also returns spec name -> the name in the file, so messages name the file's column."""
    present = {str(name) for name in frame.columns}
    in_file = {}
    for name, aliases in spec.aliases.items():
        found = [alias for alias in aliases if alias in present]
        if name not in present and found:
            in_file[name] = found[0]
    renames = {alias: name for name, alias in in_file.items()}
    return (frame.rename(columns=renames) if renames else frame), in_file


def _check_columns(frame: pd.DataFrame, spec: CatalogSpec, path: PathArg) -> None:
    present = [str(name) for name in frame.columns]
    missing = [name for name in spec.columns if name in spec.required and name not in present]
    if not missing:
        return
    unexpected = [name for name in present if name not in spec.columns]
    similar = {name: _close_matches(name, unexpected) for name in missing}
    raise CatalogSchemaError(path, missing=missing, similar=similar, unexpected=unexpected)


def _close_matches(name: str, candidates: Sequence[str]) -> list[str]:
    """Candidates that look like ``name``, ignoring case (a renamed 'kepid' -> 'KID' matches)."""
    by_lower = {candidate.lower(): candidate for candidate in candidates}
    matches = difflib.get_close_matches(name.lower(), list(by_lower), n=3, cutoff=0.6)
    return [by_lower[match] for match in matches]


def _check_column_type(
    values: pd.Series, bad: pd.Series, dtype: str, column: str, path: PathArg
) -> None:
    """A column where no value parses though most rows hold one has another type: the
    file is wrong (a shifted or retyped column), not a few rows."""
    present = values.notna() if _is_numeric(values) else _text(values).notna()
    if bad.sum() == present.sum() and 2 * present.sum() >= len(values):
        example = values[bad].astype(str).iloc[0]
        raise CatalogReadError(
            path,
            f"column {column!r} should hold {_EXPECTED[dtype]} but none of its "
            f"{int(present.sum())} values is one (e.g. {example!r}): wrong type",
        )


def _refuse_paths(reasons: pd.Series, names: pd.Series, column: str) -> pd.Series:
    """Reject rows whose ``column`` value, a file or folder name downstream, is a path."""
    problems = names.map(lambda v: None if v is None else plain_name_problem(str(v)))
    bad = problems.notna()
    if not bad.any():
        return reasons
    message = f"{column} " + names[bad].map(repr) + " " + problems[bad]
    return _first_reason(reasons, bad, message.reindex(reasons.index))


def _first_reason(reasons: pd.Series, mask: pd.Series, message: str | pd.Series) -> pd.Series:
    """Record ``message`` for rows in ``mask`` that have no reason yet (the first one wins)."""
    return reasons.where(reasons.notna() | ~mask, message)


def _all_missing(dtype: str, length: int) -> pd.Series:
    if dtype == "float64":
        return pd.Series(np.full(length, np.nan))
    if dtype in ("int64", "Int64"):
        return pd.Series(pd.array([pd.NA] * length, dtype="Int64"))
    if dtype == "bool":
        return pd.Series(pd.array([pd.NA] * length, dtype="boolean"))
    return pd.Series([None] * length, dtype=object)


def _text(values: pd.Series) -> pd.Series:
    """Values as stripped text (pandas 'string' dtype); blanks become missing."""
    text = values.astype("string[pyarrow]").str.strip()
    return text.mask(text == "")


def _is_numeric(values: pd.Series) -> bool:
    return ptypes.is_numeric_dtype(values.dtype) and not ptypes.is_bool_dtype(values.dtype)


def _is_sentinel(values: pd.Series, sentinels: Sequence[float | str]) -> pd.Series:
    numbers = [float(value) for value in sentinels if not isinstance(value, str)]
    words = [value for value in sentinels if isinstance(value, str)]
    if _is_numeric(values):
        return values.isin(numbers).fillna(False).astype(bool)
    text = _text(values)
    hit = text.isin(words).fillna(False).astype(bool)
    if numbers:
        number = pd.to_numeric(text.astype(object), errors="coerce")
        hit |= number.isin(numbers)
    return hit


def _no_bad(values: pd.Series) -> pd.Series:
    return pd.Series(False, index=values.index)


def _to_float(values: pd.Series, path: PathArg, column: str) -> tuple[pd.Series, pd.Series]:
    if _is_numeric(values):
        return values.astype("float64"), _no_bad(values)
    text = _text(values)
    number = pd.to_numeric(text.astype(object), errors="coerce").astype("float64")
    return number, text.notna() & number.isna()


def _parse_int_text(text: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Exact integer parse of text (no float round trip); returns (Int64 values, bad mask)."""
    array = pa.array(text.to_numpy(dtype=object, na_value=None), type=pa.string())
    valid = pc.fill_null(pc.match_substring_regex(array, _INT_TEXT), False)
    digits = pc.if_else(valid, pc.replace_substring_regex(array, r"\.0*$", ""), None)
    try:
        ints = pc.cast(digits, pa.int64())
    except pa.ArrowInvalid:  # more digits than int64 holds: parse one by one to find them
        ints = pa.array(
            [int(d) if d is not None and abs(int(d)) < 2**63 else None for d in digits.to_pylist()],
            type=pa.int64(),
        )
    parsed = pd.Series(
        ints.to_pandas(types_mapper={pa.int64(): pd.Int64Dtype()}.get), index=text.index
    )
    return parsed, text.notna() & parsed.isna()


def _to_int(values: pd.Series, path: PathArg, column: str) -> tuple[pd.Series, pd.Series]:
    if ptypes.is_integer_dtype(values.dtype):
        return values.astype("Int64"), _no_bad(values)
    if _is_numeric(values):
        number = values.astype("float64")
        exact = (number == np.round(number)) & (number.abs() < _EXACT_FLOAT_INT)
        ints = number.where(exact).astype("Int64")
        return ints, number.notna() & ~exact
    return _parse_int_text(_text(values))


def _to_gaia_id(values: pd.Series, path: PathArg, column: str) -> tuple[pd.Series, pd.Series]:
    if ptypes.is_float_dtype(values.dtype):
        raise CatalogReadError(
            path,
            f"column {column!r} holds Gaia ids as floating point ({values.dtype}); ids above "
            "2**53 have lost digits, the file must store them as integers or text",
        )
    if ptypes.is_integer_dtype(values.dtype):
        ints, bad = values.astype("Int64"), _no_bad(values)
    else:
        text = _text(values)
        floats = text.str.contains(_FLOAT_TEXT, regex=True).fillna(False).astype(bool)
        if floats.any():
            example = text[floats].iloc[0]
            raise CatalogReadError(
                path,
                f"column {column!r} holds Gaia ids written as floats (e.g. {example!r}); their "
                "digits are lost, the file must store them as integers or text",
            )
        ints, bad = _parse_int_text(text)
    negative = (ints < 0).fillna(False).astype(bool)
    ids = ints.astype("string").astype(object).where(ints.notna() & ~negative, None)
    return ids, bad | negative


def _to_str(values: pd.Series, path: PathArg, column: str) -> tuple[pd.Series, pd.Series]:
    text = _text(values)
    return text.astype(object).where(text.notna(), None), _no_bad(values)


def _to_bool(values: pd.Series, path: PathArg, column: str) -> tuple[pd.Series, pd.Series]:
    if ptypes.is_bool_dtype(values.dtype):
        return values.astype("boolean"), _no_bad(values)
    text = _text(values).str.lower()
    flags = pd.Series(pd.array(text.map(_BOOL_TEXT, na_action="ignore"), dtype="boolean"))
    flags.index = values.index
    return flags, text.notna() & flags.isna()


_Caster = Callable[[pd.Series, PathArg, str], tuple[pd.Series, pd.Series]]
_CASTERS: dict[str, _Caster] = {
    "int64": _to_int,
    "Int64": _to_int,
    "float64": _to_float,
    "str": _to_str,
    "bool": _to_bool,
    "gaia_id": _to_gaia_id,
}
