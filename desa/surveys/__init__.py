"""Readers for the survey files DESA consumes: LAMOST LRS spectra and Kepler light curves."""

from __future__ import annotations

import gzip
import io
import os
from os import PathLike
from typing import TYPE_CHECKING

from storage.errors import BadInputError

if TYPE_CHECKING:  # astropy is imported lazily: sibling client modules import this package too
    from astropy.io import fits

_GZIP_MAGIC = b"\x1f\x8b"


def open_fits(path: str | PathLike[str], raw: bytes | None = None) -> fits.HDUList:
    """Open a whole FITS file (gzip or not), refusing incomplete files.

    `raw`: the file's bytes, already read (and gunzipped) by the caller; `path` then only
    names the file in errors.

    Gzip input is decompressed here, which checks the gzip CRC and end-of-stream marker that
    astropy does not reach when it only reads the HDUs' bytes. The (decompressed) size must then
    equal the end of the last HDU: astropy only warns about a truncated file and silently drops
    an HDU whose header is cut off, so a partial download would otherwise read as a valid file
    with fewer HDUs or rows. Decode errors propagate (OSError, EOFError, zlib.error, ...);
    a size mismatch raises BadInputError.
    """
    from astropy.io import fits

    if raw is not None:
        size = len(raw)
        hdul = fits.open(io.BytesIO(raw), memmap=False)
        return _checked(path, hdul, size)
    with open(path, "rb") as handle:
        is_gzip = handle.read(2) == _GZIP_MAGIC
    if is_gzip:
        with open(path, "rb") as handle:
            raw = gzip.decompress(handle.read())
        size = len(raw)
        hdul = fits.open(io.BytesIO(raw), memmap=False)
    else:
        size = os.path.getsize(path)
        hdul = fits.open(path, memmap=False)
    return _checked(path, hdul, size)


def _checked(path: str | PathLike[str], hdul: fits.HDUList, size: int) -> fits.HDUList:
    """`hdul` once all its HDUs are read and they end exactly at `size` bytes."""
    try:
        hdul.readall()
        last = hdul[-1]
        # HDUList.fileinfo() gives the same numbers but re-serialises every header first (a
        # third of a read); the offsets astropy recorded while reading are already there.
        end = last._data_offset + last._data_size
        if size != end:
            raise BadInputError(
                path,
                f"FITS data is {size} bytes but its last HDU ends at byte {end} "
                "(truncated or corrupt)",
            )
    except BaseException:
        hdul.close()
        raise
    return hdul
