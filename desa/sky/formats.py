"""Generic writers of the published catalog formats the synthetic sky copies.

Number text (fixed-point, and the trailing-zero-free numbers of the Berger files), CSV, VizieR
ASU-TSV exports, AAS machine-readable tables (CDS byte-by-byte headers) and the Berger
ampersand tables. Byte-identical for the same values: formats are fixed, gzip carries mtime 0,
no dates are written.
"""

from __future__ import annotations

import gzip
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd


def fixed(values: Sequence[float] | np.ndarray, decimals: int, missing: str = "") -> list[str]:
    """Fixed-point text, `missing` for NaN."""
    return [missing if not np.isfinite(v) else f"{v:.{decimals}f}" for v in np.asarray(values)]


def short(values: Sequence[float] | np.ndarray, decimals: int, missing: str = "") -> list[str]:
    """Rounded and without trailing zeros ('12.351'), as the Berger files print numbers."""
    out = []
    for v in np.asarray(values, dtype=float):
        out.append(missing if not np.isfinite(v) else repr(round(float(v), decimals)))
    return out


def csv_bytes(frame: pd.DataFrame) -> bytes:
    return frame.to_csv(index=False, lineterminator="\n").encode()


def ampersand(frame: pd.DataFrame) -> bytes:
    """Berger et al. 2020 text: "&"-separated values, "\\\\" at each line's end, gzipped."""
    lines = ["&".join(frame.columns) + "\\\\"]
    lines += ["&".join(row) + "\\\\" for row in frame.astype(str).itertuples(index=False)]
    return gzip.compress(("\n".join(lines) + "\n").encode(), mtime=0)


def hash_int(text: str) -> int:
    """A stable integer from text (Python's hash() is salted per process)."""
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big")


# ---------------------------------------------------------------------------------------------
# VizieR ASU-TSV

UCD_ERR = "stat.error"


@dataclass(frozen=True)
class VizierColumn:
    name: str
    fmt: str  # Fortran-like: I8, F6.3, A5
    unit: str
    description: str
    ucd: str

    @property
    def width(self) -> int:
        return int(self.fmt[1:].split(".")[0])


def vizier_tsv(
    catalog: str,
    title: str,
    table: str,
    table_title: str,
    columns: Sequence[VizierColumn],
    values: dict[str, list[str]],
) -> bytes:
    """A VizieR ASU-TSV export: '#' header, column names, units, dashes, tab-separated rows
    right-aligned to the column formats (as the real Santos 2019 export)."""
    table_id = f"{catalog}/{table}"
    mangled = catalog.replace("/", "_")
    lines = [
        "#",
        "#   VizieR Astronomical Server vizier.cds.unistra.fr",
        "#   In case of problem, please report to:\tcds-question@unistra.fr",
        "#",
        "#",
        "#Coosys\tJ2000:\teq_FK5 J2000",
        "#INFO\tvotable-version=1.99+ (14-Oct-2013)\t",
        "#INFO\t-out.max=unlimited\t",
        "#-oc.form=dec",
        "#-out.max=unlimited",
        f"#-source={table_id}",
        *(f"#-out={c.name}" for c in columns),
        "#",
        "",
        f"#RESOURCE=yCat_{hash_int(catalog) % 10**8:08d}",
        f"#Name: {catalog}",
        f"#Title: {title}",
        f"#Table\t{mangled}_{table}:",
        f"#Name: {table_id}",
        f"#Title: {table_title}",
        *(f"#Column\t{c.name}\t({c.fmt})\t{c.description}\t[ucd={c.ucd}]" for c in columns),
        "\t".join(c.name for c in columns),
        "\t".join(c.unit for c in columns),
        "\t".join("-" * c.width for c in columns),
    ]
    n = len(values[columns[0].name])
    for i in range(n):
        lines.append("\t".join(values[c.name][i].rjust(c.width) for c in columns))
    lines.append("")
    return ("\n".join(lines) + "\n").encode()


# ---------------------------------------------------------------------------------------------
# AAS machine-readable table (CDS byte-by-byte)


@dataclass(frozen=True)
class MrtColumn:
    fmt: str
    unit: str
    label: str
    explanation: str

    @property
    def width(self) -> int:
        return int(self.fmt[1:].split(".")[0])


def mrt(
    title: str,
    authors: str,
    table: str,
    file_name: str,
    columns: Sequence[MrtColumn],
    values: dict[str, list[str]],
) -> bytes:
    """An AAS machine-readable table (CDS byte-by-byte header, fixed-width rows)."""
    rule = "-" * 80
    lines = [
        f"Title: {title}",
        f"Authors: {authors}",
        f"Table: {table}",
        "=" * 80,
        f"Byte-by-byte Description of file: {file_name}",
        rule,
        "   Bytes Format Units   Label    Explanations",
        rule,
    ]
    start = 1
    for c in columns:
        end = start + c.width - 1
        lines.append(
            f"{start:4d}-{end:3d} {c.fmt:<6} {c.unit:<7} {c.label:<8} {c.explanation}".rstrip()
        )
        start = end + 2
    lines.append(rule)
    n = len(values[columns[0].label])
    for i in range(n):
        lines.append(" ".join(values[c.label][i].rjust(c.width) for c in columns))
    return ("\n".join(lines) + "\n").encode()
