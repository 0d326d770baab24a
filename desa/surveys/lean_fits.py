"""A lean FITS decode for the few plain layouts the survey readers meet: bytes, headers, offsets.

astropy's `fits.open` builds HDU objects, column definitions and lazy data loaders that cost
more than the preprocessing of a LAMOST spectrum. For the simple files the surveys ship, the
headers (parsed with astropy's own `Header.fromstring`) give every offset needed to take the
data with numpy directly (FITS Standard 4.0, §3.3-3.4: 2880-byte blocks, 80-byte cards, data
after the header's last block, padded to a whole block). Anything this module does not know
how to read exactly as astropy does gives None, and the callers fall back to astropy.
"""

from __future__ import annotations

import gzip
import math
import re
import zlib
from dataclasses import dataclass
from os import PathLike
from typing import TYPE_CHECKING

import numpy as np
from isal import isal_zlib

from storage.errors import BadInputError

if TYPE_CHECKING:  # astropy is imported where a file needs it: `desa status` imports this
    from astropy.io import fits

BLOCK = 2880  # FITS block size in bytes (FITS Standard 4.0, §3.1)
CARD = 80  # card length in bytes
_END_CARD = b"END" + b" " * (CARD - 3)
_GZIP_MAGIC = b"\x1f\x8b"
# zlib window bits for a gzip wrapper (zlib manual: 16 + 15); zlib then checks the trailer's
# CRC-32 and ISIZE itself.
_GZIP_WBITS = 31

# Binary-table TFORM codes this reader decodes (FITS Standard 4.0, Table 18) as big-endian
# numpy types, and the byte widths of every code so that any other column can be skipped.
_NUMERIC = {"B": "u1", "I": ">i2", "J": ">i4", "K": ">i8", "E": ">f4", "D": ">f8"}
_WIDTH = {"L": 1, "B": 1, "I": 2, "J": 4, "K": 8, "A": 1, "E": 4, "D": 8, "C": 8, "M": 16}
_VARIABLE = {"P": 8, "Q": 16}  # array descriptors (the data sit in the heap)
# Image BITPIX values and the numpy types astropy gives for them without scaling (§4.4.1.1).
_BITPIX = {8: "u1", 16: ">i2", 32: ">i4", 64: ">i8", -32: ">f4", -64: ">f8"}
# Cards that make astropy change a column's values (scaling, nulls, shape): left to astropy.
_COLUMN_CHANGERS = ("TSCAL", "TZERO", "TNULL", "TDIM")


# Card values in the strict fixed/free formats the surveys write (FITS Standard 4.0, §4.2):
# a quoted string ('' is a quote), T/F, an integer, or a real with an optional E/D exponent,
# then nothing but an optional /comment. Anything else is parsed by astropy.
_STRING = re.compile(r"'((?:[^']|'')*)' *(?:/.*)?$")
# One pattern for the other three kinds (one match per card): logical, integer, real.
_SCALAR = re.compile(
    r"(?:([TF])|([+-]?\d+)|([+-]?(?:\d+\.\d*|\.\d+|\d+)(?:[ED][+-]?\d+)?)) *(?:/.*)?$"
)
# A string that astropy might read as a record-valued keyword card ('AXIS.1: 3').
_RECORD_LIKE = re.compile(r"^\s*[A-Za-z_]\w*(\.\w+)*\s*:")
# Keywords without a value (FITS Standard 4.0, §4.4.2.4) and cards that change how others read.
_COMMENTARY = {"", "COMMENT", "HISTORY"}
_UNKNOWN = object()


def _fast_value(card: str) -> object:
    """The value of one 80-character card as astropy gives it, or _UNKNOWN when unsure."""
    if card[8:10] != "= ":
        return _UNKNOWN
    field = card[10:].lstrip(" ")
    if field.startswith("'"):
        match = _STRING.match(field)
        if match is None:
            return _UNKNOWN
        # astropy un-doubles quotes and drops trailing blanks (conf.strip_header_whitespace).
        text = match.group(1).replace("''", "'").rstrip()
        if text.endswith("&") or _RECORD_LIKE.match(text):  # CONTINUE or RVKC: astropy's job
            return _UNKNOWN
        return text
    match = _SCALAR.match(field)
    if match is None:
        return _UNKNOWN
    logical, integer, real = match.groups()
    if logical is not None:
        return logical == "T"
    if integer is not None:
        return int(integer)
    return float(real.replace("D", "E"))


class HeaderCards:
    """A header's card values, each parsed when first asked for.

    Lookups (`in`, `[]`, `get`) answer as astropy's `fits.Header` does: keywords case-blind,
    the first card of a repeated keyword. Values in a format this class does not parse
    exactly, and `astropy()`, come from `fits.Header.fromstring` of the same text, built once
    and only when needed (it costs more than decoding the data).
    """

    def __init__(self, text: str) -> None:
        self._text = text
        self._header: fits.Header | None = None
        starts = range(0, len(text), CARD)
        keywords = [text[start : start + 8].rstrip(" ").upper() for start in starts]
        self._index: dict[str, int] | None = None
        if "CONTINUE" not in keywords and "HIERARCH" not in keywords:
            # Long strings and long keywords are astropy's to read. Filled from the last card
            # back, so a repeated keyword keeps its first card.
            self._index = dict(zip(reversed(keywords), reversed(starts), strict=True))
            for keyword in _COMMENTARY:
                self._index.pop(keyword, None)

    @classmethod
    def of(cls, header: fits.Header) -> HeaderCards:
        """Cards of a header astropy has already parsed."""
        cards = cls("")
        cards._header, cards._index = header, None
        return cards

    def astropy(self) -> fits.Header:
        """The whole header as astropy parses it."""
        if self._header is None:
            from astropy.io import fits

            self._header = fits.Header.fromstring(self._text)
        return self._header

    def __contains__(self, key: str) -> bool:
        if self._index is None:
            return key in self.astropy()
        return key.upper() in self._index

    def __getitem__(self, key: str) -> object:
        if self._index is None:
            return self.astropy()[key]
        start = self._index[key.upper()]
        value = _fast_value(self._text[start : start + CARD])
        return self.astropy()[key] if value is _UNKNOWN else value

    def get(self, key: str, default: object = None) -> object:
        try:
            return self[key]
        except KeyError:
            return default

    @property
    def parsed_by_astropy(self) -> bool:
        """Whether astropy had to parse the whole header (so far)."""
        return self._header is not None


@dataclass(frozen=True, eq=False)
class LeanHdu:
    """One HDU of a file held in memory: its header and where its data lie."""

    header: HeaderCards
    data_offset: int  # byte offset of the data in the decompressed file
    data_size: int  # bytes of data, without the padding to a whole block


class MalformedFits(ValueError):
    """The bytes are not a well-formed FITS file; the text says how (no file name)."""


def file_bytes(path: str | PathLike[str]) -> bytes:
    """The file's FITS bytes: read whole, and gunzipped when it is gzip.

    The inflater (ISA-L's, through `isal`: zlib's interface at 2.4x its speed on these files)
    checks the CRC-32 and length in the gzip trailer and a stream that stops early is refused
    (MalformedFits), so a partial download never reads as a file; a file of several gzip
    members is left to the gzip module (slower, same checks).
    """
    with open(path, "rb") as handle:
        raw = handle.read()
    if raw[:2] != _GZIP_MAGIC:
        return raw
    inflater = isal_zlib.decompressobj(_GZIP_WBITS)
    try:
        data = inflater.decompress(raw)
    except (zlib.error, isal_zlib.error) as exc:
        raise MalformedFits(f"its gzip data are corrupt ({exc})") from None
    if not inflater.eof:
        raise MalformedFits(
            f"its gzip stream is truncated: the {len(raw)} bytes end before the stream's "
            "end-of-stream marker and checksum (an incomplete download?)"
        )
    if inflater.unused_data:
        # More gzip members (or bytes) follow: the gzip module reads them, or says why not.
        try:
            return gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as exc:
            raise MalformedFits(
                f"bytes after its first gzip member are not a complete gzip member ({exc})"
            ) from None
    return data


def _header_end(raw: bytes, start: int) -> int | None:
    """Offset just past the END card of the header starting at `start`, or None."""
    position = start
    while True:
        found = raw.find(_END_CARD, position)
        if found < 0:
            return None
        if (found - start) % CARD == 0:
            return found + CARD
        position = found + 1


def _padded(size: int) -> int:
    return -(-size // BLOCK) * BLOCK


def _int_card(header: HeaderCards, key: str) -> int | None:
    value = header.get(key)
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return value


def _data_size(header: HeaderCards) -> int | None:
    """Bytes of data the header announces (FITS Standard 4.0, eq. 2), or None if unclear."""
    bitpix, naxis = _int_card(header, "BITPIX"), _int_card(header, "NAXIS")
    if bitpix not in _BITPIX or naxis is None or not 0 <= naxis <= 999:
        return None
    axes = [_int_card(header, f"NAXIS{i}") for i in range(1, naxis + 1)]
    pcount, gcount = _int_card(header, "PCOUNT"), _int_card(header, "GCOUNT")
    is_extension = "XTENSION" in header
    if is_extension and (pcount is None or gcount is None):
        return None
    if any(axis is None or axis < 0 for axis in axes) or (pcount or 0) < 0:
        return None
    if naxis == 0:
        return 0
    return abs(bitpix) // 8 * (gcount or 1) * ((pcount or 0) + math.prod(axes))


def split_hdus(raw: bytes) -> list[LeanHdu] | None:
    """Every HDU of a FITS file in memory, or None unless the bytes are exactly whole HDUs.

    The file must end where its last HDU's padded data end (astropy's readers refuse anything
    else as truncated or carrying extra bytes; they decide what to say about it).
    """
    hdus: list[LeanHdu] = []
    start = 0
    while start < len(raw):
        end = _header_end(raw, start)
        if end is None:
            return None
        try:
            header = HeaderCards(raw[start : end - CARD].decode("ascii"))
        except UnicodeDecodeError:
            return None
        if ("XTENSION" in header) == (start == 0):  # primary first, extensions after it
            return None
        size = _data_size(header)
        if size is None:
            return None
        offset = start + _padded(end - start)
        hdus.append(LeanHdu(header, offset, size))
        start = offset + _padded(size)
    return hdus if hdus and start == len(raw) else None


def image(raw: bytes, hdu: LeanHdu) -> np.ndarray | None:
    """The image of an HDU as astropy shapes it (NAXISn reversed), big-endian; None when
    astropy would scale or blank it."""
    header = hdu.header
    extension = str(header.get("XTENSION", "IMAGE")).strip()
    scaled = any(key in header for key in ("BSCALE", "BZERO", "BLANK"))
    if extension != "IMAGE" or scaled:
        return None
    naxis = header["NAXIS"]
    if naxis == 0:
        return None
    shape = tuple(header[f"NAXIS{i}"] for i in range(naxis, 0, -1))
    dtype = np.dtype(_BITPIX[header["BITPIX"]])
    count = math.prod(shape)
    return np.frombuffer(raw, dtype=dtype, count=count, offset=hdu.data_offset).reshape(shape)


def _tform(value: object) -> tuple[int, str] | None:
    """(repeat, code) of a TFORMn value, e.g. '3909E' -> (3909, 'E')."""
    text = str(value).strip().upper()
    digits = len(text) - len(text.lstrip("0123456789"))
    if digits == len(text):
        return None
    return (int(text[:digits]) if digits else 1), text[digits]


def _width(repeat: int, code: str) -> int | None:
    if code == "X":  # bits, packed into bytes
        return -(-repeat // 8)
    if code in _VARIABLE:
        return repeat and _VARIABLE[code]
    width = _WIDTH.get(code)
    return None if width is None else repeat * width


def table_columns(raw: bytes, hdu: LeanHdu, names: tuple[str, ...]) -> dict[str, np.ndarray] | None:
    """Named columns of a binary table (names matched case-blind, as astropy does), each an
    (NAXIS2,) array or (NAXIS2, repeat) for vector columns, big-endian views of `raw`.

    None when astropy might give other values: a column that is missing, named twice, not
    plain numeric, or carries scaling, null or shape cards; or row widths that do not add up.
    """
    header = hdu.header
    if str(header.get("XTENSION", "")).strip() != "BINTABLE" or header.get("NAXIS") != 2:
        return None
    row_bytes, n_rows = header["NAXIS1"], header["NAXIS2"]
    n_fields = _int_card(header, "TFIELDS")
    if n_fields is None or header["PCOUNT"] != 0 or header["GCOUNT"] != 1:
        return None
    wanted = {name.upper() for name in names}
    fields: dict[str, tuple[str, int, int]] = {}  # name -> (numpy type, repeat, offset)
    offset = 0
    for index in range(1, n_fields + 1):
        form = _tform(header.get(f"TFORM{index}", ""))
        width = None if form is None else _width(*form)
        if form is None or width is None:
            return None
        name = str(header.get(f"TTYPE{index}", "")).strip().upper()
        if name in wanted:
            repeat, code = form
            changed = any(f"{card}{index}" in header for card in _COLUMN_CHANGERS)
            if name in fields or code not in _NUMERIC or repeat == 0 or changed:
                return None
            fields[name] = (_NUMERIC[code], repeat, offset)
        offset += width
    if offset != row_bytes or set(fields) != wanted:
        return None
    row = np.dtype(
        {
            "names": list(fields),
            "formats": [
                (kind, (repeat,)) if repeat > 1 else kind for kind, repeat, _ in fields.values()
            ],
            "offsets": [start for _, _, start in fields.values()],
            "itemsize": row_bytes,
        }
    )
    rows = np.frombuffer(raw, dtype=row, count=n_rows, offset=hdu.data_offset)
    return {name: rows[name.upper()] for name in names}


def column_names(hdu: LeanHdu) -> list[str]:
    """TTYPEn of a table, upper-cased, in column order."""
    count = _int_card(hdu.header, "TFIELDS") or 0
    return [str(hdu.header.get(f"TTYPE{i}", "")).strip().upper() for i in range(1, count + 1)]


def find_extension(hdus: list[LeanHdu], extname: str) -> LeanHdu | None:
    """The only extension named `extname` (case-blind), or None when none or several are."""
    found = [
        hdu
        for hdu in hdus[1:]
        if str(hdu.header.get("EXTNAME", "")).strip().upper() == extname.upper()
    ]
    return found[0] if len(found) == 1 else None


# What a file that is not FITS turns out to be, from its first bytes.
_HTML = re.compile(rb"<\s*(!doctype\s+html|html|head|body)\b", re.IGNORECASE)


def _what_it_is(raw: bytes) -> str:
    head = raw[:512]
    start = head[:60].decode("latin-1")
    if _HTML.search(head):
        return (
            f"it is an HTML page (it begins {start!r}), e.g. a server's error page saved "
            "under the file's name"
        )
    if all(32 <= byte < 127 or byte in b"\t\r\n" for byte in head):
        return f"it is text (it begins {start!r})"
    return f"it begins with the bytes {raw[:16]!r}, not 'SIMPLE  ='"


def _hdu_label(index: int, header: HeaderCards) -> str:
    name = header.get("EXTNAME") if index else None
    return f"HDU {index} ({str(name).strip()})" if name else f"HDU {index}"


def _size_cards(header: HeaderCards) -> str:
    naxis = _int_card(header, "NAXIS") or 0
    keys = ["BITPIX", "NAXIS"] + [f"NAXIS{i}" for i in range(1, naxis + 1)]
    keys += [key for key in ("PCOUNT", "GCOUNT") if key in header]
    return ", ".join(f"{key} = {header.get(key)!r}" for key in keys)


def structure_problem(raw: bytes) -> str | None:
    """What makes `raw` a malformed FITS file, in words, or None when its HDUs are whole.

    Checks only what FITS Standard 4.0 fixes for every file: the first card is SIMPLE (§3.3.1),
    each header ends with an END card, BITPIX is one of the six values (tables: 8, §7.3.1),
    the data the header announces (BITPIX, NAXISn, PCOUNT, GCOUNT: eq. 2) lie in the file, and
    nothing but another HDU follows them. Headers it cannot parse give None (astropy decides).
    """
    from astropy.io import fits  # its VerifyError, from a header parsed by astropy

    if not raw:
        return "the file is empty (0 bytes)"
    if not raw.startswith(b"SIMPLE  ="):
        return f"it is not FITS: {_what_it_is(raw)}"
    start, index = 0, 0
    while start < len(raw):
        end = _header_end(raw, start)
        if end is None:
            return (
                f"HDU {index}: its header has no END card before the file ends at byte "
                f"{len(raw)} (truncated)"
            )
        try:
            header = HeaderCards(raw[start : end - CARD].decode("ascii"))
            label = _hdu_label(index, header)
            bitpix = _int_card(header, "BITPIX")
            table = str(header.get("XTENSION", "")).strip() in ("BINTABLE", "TABLE")
            size = _data_size(header)
            cards = _size_cards(header)
        except (UnicodeDecodeError, ValueError, KeyError, fits.VerifyError):
            return None
        if bitpix not in _BITPIX:
            return (
                f"{label}: BITPIX = {header.get('BITPIX')!r} is not a FITS value "
                "(8, 16, 32, 64, -32 or -64)"
            )
        if table and bitpix != 8:
            return f"{label}: BITPIX = {bitpix} in a table (a table's BITPIX is 8)"
        if size is None:
            return None
        data_start = start + _padded(end - start)
        follows = max(len(raw) - data_start, 0)
        if size > follows:
            return (
                f"{label}: its header announces {size} bytes of data ({cards}) but {follows} "
                "follow it: the file is truncated, or BITPIX/NAXISn disagree with the data"
            )
        start = data_start + _padded(size)
        if start > len(raw):
            return (
                f"{label}: the file ends at byte {len(raw)}, inside the blocks of this HDU "
                f"(which end at byte {start}): truncated"
            )
        if start < len(raw) and not raw.startswith(b"XTENSION=", start):
            return (
                f"{len(raw) - start} bytes follow the end of {label}'s data at byte {start} and "
                f"do not begin an extension ({cards}): the header announces less data than the "
                "file holds, or bytes were appended (truncated or corrupt)"
            )
        index += 1
    return None


def unreadable(path: str, kind: str, raw: bytes | None, error: BaseException) -> BadInputError:
    """The bad-input error for a file that did not decode: the structural problem when one is
    found (`structure_problem`), else the decoder's own words."""
    problem = str(error) if isinstance(error, MalformedFits) else None
    if problem is None:
        try:
            problem = structure_problem(file_bytes(path) if raw is None else raw)
        except MalformedFits as exc:
            problem = str(exc)
        except OSError:
            problem = None
    if problem is None:
        return BadInputError(path, f"not a readable {kind} FITS file ({error})")
    return BadInputError(path, f"not a readable {kind} FITS file: {problem}")
