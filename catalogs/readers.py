"""Read a published catalog file into a DataFrame with the column names as published.

One reader per format (see ``catalogs.specs.FORMATS``). Readers only parse: they keep the
published names and leave dtype casting, sentinels and renaming to ``catalogs.normalize``.
Text formats are gzip-decompressed when the file starts with the gzip magic bytes, whatever the
format's name says, because archives serve the same table both ways.
"""

from __future__ import annotations

import codecs
import gzip
import io
import warnings
import zlib
from collections.abc import Callable, Collection
from os import PathLike
from pathlib import Path
from typing import TextIO

import pandas as pd
from astropy.io import ascii as astropy_ascii
from astropy.io.ascii import InconsistentTableError
from astropy.io.fits.verify import VerifyWarning
from astropy.table import Table
from astropy.units import UnitsWarning

from catalogs.errors import CatalogReadError
from catalogs.specs import FORMATS, Format

GZIP_MAGIC = b"\x1f\x8b"
_CSV_DELIMITERS = (",", "|", "\t")  # LAMOST web exports use '|' (data_sources.md §1.3)


def read_published(
    path: str | PathLike[str], fmt: Format, *, text_columns: Collection[str] = ()
) -> pd.DataFrame:
    """Parse ``path`` as a catalog in format ``fmt``; columns keep their published names.

    ``text_columns`` are read as text by the text formats (csv, ampersand, VizieR TSV) so that
    integer ids survive exactly (pandas reads an integer column with a blank as float64);
    ``CatalogSpec.text_columns`` gives them. Raises ``CatalogReadError`` naming the file for an
    empty file, corrupt gzip data, a file that is not in the format, or a table without rows.
    """
    if fmt not in _READERS:
        raise ValueError(f"unknown catalog format {fmt!r}; expected one of {FORMATS}")
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such catalog file")
    if path.stat().st_size == 0:
        raise CatalogReadError(path, "empty file (0 bytes)")
    try:
        _refuse_markup(path, fmt)
        frame = _READERS[fmt](path, frozenset(text_columns))
    except CatalogReadError:
        raise
    except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
        raise CatalogReadError(path, f"corrupt or truncated gzip data ({exc})") from exc
    except UnicodeDecodeError as exc:
        raise CatalogReadError(path, _not_utf8(path)) from exc
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise CatalogReadError(path, f"not a well-formed {fmt} table: {exc}") from exc
    if frame.empty:
        raise CatalogReadError(path, f"no data rows (a {fmt} table was expected)")
    frame.columns = [str(name).strip() for name in frame.columns]
    return frame


def _not_utf8(path: Path) -> str:
    """Where the first byte that is not UTF-8 sits (line and offset in the text)."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    offset, line = 0, 1
    opener = gzip.open if _is_gzip(path) else open
    with opener(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError as exc:
                where = offset + exc.start
                line += chunk.count(b"\n", 0, exc.start)
                byte = chunk[exc.start]
                return (
                    f"not a UTF-8 text file: byte 0x{byte:02x} at offset {where} (line {line}) is "
                    "not UTF-8 (a binary file, or text in another encoding such as Latin-1)"
                )
            offset += len(chunk)
            line += chunk.count(b"\n")
    return "not a UTF-8 text file"


def _refuse_markup(path: Path, fmt: str) -> None:
    """No catalog format starts with '<': such a file is a web page (a login, preview or error
    page served with HTTP 200) or an XML error document saved in place of the table."""
    opener = gzip.open if _is_gzip(path) else open
    with opener(path, "rb") as handle:
        head = handle.read(512).lstrip()
    if head.startswith(b"<"):
        what = "an HTML page" if b"html" in head.lower() else "an HTML/XML document"
        raise CatalogReadError(path, f"the source answered with {what}, not a {fmt} table")


def _is_gzip(path: Path) -> bool:
    with path.open("rb") as handle:
        return handle.read(2) == GZIP_MAGIC


def _open_text(path: Path) -> TextIO:
    if _is_gzip(path):
        return gzip.open(path, "rt", encoding="utf-8")
    return path.open(encoding="utf-8")


def _first_line(path: Path) -> str:
    """The first non-blank line (web pages were refused before, by ``_refuse_markup``)."""
    with _open_text(path) as handle:
        for line in handle:
            if line.strip():
                return line
    raise CatalogReadError(path, "no text lines (only blank lines)")


def _text_dtypes(text_columns: frozenset[str]) -> dict[str, type]:
    # pandas ignores names that are not in the file; normalize reports those.
    return dict.fromkeys(text_columns, str)


def _drop_empty_unnamed(frame: pd.DataFrame) -> pd.DataFrame:
    """Drop the nameless, empty column a trailing delimiter creates (kepler_eb.txt)."""
    empty = [
        name
        for name in frame.columns
        if str(name).startswith("Unnamed: ") and frame[name].isna().all()
    ]
    return frame.drop(columns=empty)


def _read_csv(path: Path, text_columns: frozenset[str]) -> pd.DataFrame:
    header = _first_line(path)
    delimiter = max(_CSV_DELIMITERS, key=header.count)
    frame = pd.read_csv(
        path,
        sep=delimiter,
        compression="gzip" if _is_gzip(path) else None,
        dtype=_text_dtypes(text_columns),
        skipinitialspace=True,
        low_memory=False,
    )
    return _drop_empty_unnamed(frame)


def _read_ampersand(path: Path, text_columns: frozenset[str]) -> pd.DataFrame:
    """LaTeX-style table: '&' between fields and '\\\\' at the end of every line (Berger 2020)."""
    header = _first_line(path)
    if "&" not in header:
        raise CatalogReadError(path, "not an '&'-separated table: the header line has no '&'")
    with _open_text(path) as handle:
        lines = [line.rstrip().removesuffix("\\\\").rstrip() for line in handle]
    frame = pd.read_csv(
        io.StringIO("\n".join(lines)),
        sep="&",
        dtype=_text_dtypes(text_columns),
        skipinitialspace=True,
    )
    return _drop_empty_unnamed(frame)


def _is_dashes_line(line: str) -> bool:
    fields = [field.strip() for field in line.split("\t")]
    return any(fields) and all(set(field) <= {"-"} for field in fields)


def _read_vizier_tsv(path: Path, text_columns: frozenset[str]) -> pd.DataFrame:
    """VizieR ASU-TSV: "#" comments, a header, a units and a dashes line, tab-separated rows."""
    with _open_text(path) as handle:
        lines = handle.read().splitlines()
    start = next(
        (i for i, line in enumerate(lines) if line.strip() and not line.startswith("#")), None
    )
    if start is None or start + 2 >= len(lines) or not _is_dashes_line(lines[start + 2]):
        raise CatalogReadError(
            path,
            "not a VizieR TSV table: expected a header line, a units line and a line of dashes "
            "after the '#' comments",
        )
    end = start + 3
    while end < len(lines) and lines[end].strip() and not lines[end].startswith("#"):
        end += 1
    # A TSV of a whole catalog repeats comments + header per table; which one is meant is unclear.
    if any(line.strip() and not line.startswith("#") for line in lines[end:]):
        raise CatalogReadError(path, "holds more than one VizieR table; export one table per file")
    body = "\n".join([lines[start], *lines[start + 3 : end]])
    return pd.read_csv(
        io.StringIO(body), sep="\t", dtype=_text_dtypes(text_columns), skipinitialspace=True
    )


def table_to_frame(table: Table) -> pd.DataFrame:
    """astropy Table -> DataFrame; vector columns cannot be catalog fields and are dropped."""
    scalar = [name for name in table.colnames if table[name].ndim == 1]
    frame = table[scalar].to_pandas()
    for name in frame.columns:
        column = frame[name]
        if column.dtype == object and column.map(lambda v: isinstance(v, bytes)).any():
            frame[name] = column.map(lambda v: v.decode() if isinstance(v, bytes) else v)
    return frame


def _read_mrt(path: Path, _text_columns: frozenset[str]) -> pd.DataFrame:
    """AAS machine-readable table / CDS file; the byte-by-byte header types every column."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UnitsWarning)  # units like '[cm-2]' are published as is
        try:
            table = astropy_ascii.read(path, format="cds")
        except (InconsistentTableError, ValueError, IndexError, KeyError) as exc:
            raise CatalogReadError(
                path, f"not a CDS/AAS machine-readable table (byte-by-byte header): {exc}"
            ) from exc
    return table_to_frame(table)


def _read_fits(path: Path, _text_columns: frozenset[str]) -> pd.DataFrame:
    """First table HDU of a FITS file (typed by the file); text comes back as str, not bytes."""
    with warnings.catch_warnings():
        # VizieR's ASCII-table exports carry TNULL strings wider than the column; harmless
        # (SOURCES.md, Reinhold 2015 / Kirk 2016 files). Units like '%' are not FITS units.
        warnings.simplefilter("ignore", VerifyWarning)
        warnings.simplefilter("ignore", UnitsWarning)
        try:
            table = Table.read(path, format="fits", character_as_bytes=False)
        except (OSError, ValueError, TypeError, IndexError) as exc:
            raise CatalogReadError(path, f"not a FITS file with a table HDU: {exc}") from exc
    return table_to_frame(table)


_READERS: dict[str, Callable[[Path, frozenset[str]], pd.DataFrame]] = {
    "csv": _read_csv,
    "csv_gz": _read_csv,
    "ampersand_gz": _read_ampersand,
    "vizier_tsv": _read_vizier_tsv,
    "mrt": _read_mrt,
    "fits": _read_fits,
}
