"""
Files → tables. A table is its header row, its HXL hashtag row if it has one, and its
data rows, read one at a time: a large file is never held as rows in memory (its
bytes are, up to IMPORT_MAX_BYTES).

Each row comes with its number as a spreadsheet shows it (the header is row 1), which
is the number every error names. A file that cannot be read as a table raises
FileError with a message a person can act on; nothing of it is imported.
"""

from __future__ import annotations

import codecs
import csv
import io
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import charset_normalizer
import hxl.model
from django.utils.translation import gettext as _

# The formats a file may be read as; `auto` tells them apart by their content.
FORMATS = ("auto", "csv", "xlsx", "ods", "hxl", "acled", "ucdp")
# Enough of a file to tell its encoding and its delimiter.
SAMPLE_BYTES = 256 * 1024
DELIMITERS = ",;\t|"
ODS_MIMETYPE = b"application/vnd.oasis.opendocument.spreadsheet"


class FileError(ValueError):
    """The file as a whole cannot be read: the message says why."""


@dataclass
class Table:
    titles: list[str]
    # The HXL hashtag row (hxlstandard.org), one per column ("" where a column has none).
    tags: list[str] | None
    rows: Iterator[tuple[int, list[Any]]]


def detect_format(content: bytes) -> str:
    """`xlsx`, `ods` or `csv`, from what the bytes are (a file's name can lie)."""
    if content.startswith(b"PK\x03\x04"):
        try:
            with zipfile.ZipFile(io.BytesIO(content)) as archive:
                names = set(archive.namelist())
                if "mimetype" in names and archive.read("mimetype").strip() == ODS_MIMETYPE:
                    return "ods"
                if "xl/workbook.xml" in names:
                    return "xlsx"
        except zipfile.BadZipFile:
            pass
        raise FileError(_("The file is a ZIP archive but neither an XLSX nor an ODS spreadsheet."))
    return "csv"


def read_table(content: bytes, *, kind: str, max_rows: int) -> Table:
    """The table in `content`, read as `kind` (csv, xlsx or ods); at most `max_rows` data rows."""
    if not content or content.isspace():  # not strip(): that would copy the whole file
        raise FileError(_("The file is empty."))
    if kind == "xlsx":
        rows = _xlsx_rows(content)
    elif kind == "ods":
        rows = _ods_rows(content)
    else:
        rows = _csv_rows(content)
    return _table(rows, max_rows=max_rows)


def _table(rows: Iterator[list[Any]], *, max_rows: int) -> Table:
    numbered = ((number, row) for number, row in enumerate(rows, start=1) if any(_text(cell) for cell in row))
    first = next(numbered, None)
    if first is None:
        raise FileError(_("The file has no rows."))
    titles = [_text(cell) for cell in first[1]]
    tags = None
    if is_hashtag_row(titles):
        # A hashtag row with no header above it: the hashtags are the titles too.
        tags = titles
        body: Iterator[tuple[int, list[Any]]] = numbered
    else:
        second = next(numbered, None)
        if second is not None and is_hashtag_row([_text(cell) for cell in second[1]]):
            tags = [_text(cell) for cell in second[1]]
            body = numbered
        else:
            body = _chain(second, numbered)
    return Table(titles=titles, tags=tags, rows=_limited(body, max_rows=max_rows))


def _chain(first: tuple[int, list[Any]] | None, rest: Iterator[tuple[int, list[Any]]]) -> Iterator:
    if first is not None:
        yield first
    yield from rest


def _limited(rows: Iterator[tuple[int, list[Any]]], *, max_rows: int) -> Iterator[tuple[int, list[Any]]]:
    for count, row in enumerate(rows, start=1):
        if count > max_rows:
            raise FileError(_("The file has more than %(max)d rows: split it into several files.") % {"max": max_rows})
        yield row


def is_hashtag_row(cells: list[str]) -> bool:
    """HXL's own test: most of the filled cells of the row are hashtags (`#affected+num`)."""
    filled = [cell for cell in cells if cell]
    return bool(filled) and sum(1 for cell in filled if hxl.model.Column.parse(cell)) * 2 > len(filled)


def _text(cell: Any) -> str:
    return "" if cell is None else str(cell).strip()


# --- CSV ---------------------------------------------------------------------------


def _encoding(content: bytes) -> str:
    """The file's encoding: its byte-order mark, else UTF-8 if it decodes as such, else a detected one."""
    for bom, name in ((codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16")):
        if content.startswith(bom):
            return name
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        # In slices: checking that it is UTF-8 does not need a second copy of the whole file.
        for start in range(0, len(content), SAMPLE_BYTES):
            decoder.decode(content[start : start + SAMPLE_BYTES])
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        best = charset_normalizer.from_bytes(content[:SAMPLE_BYTES]).best()
        if best is None:
            raise FileError(
                _("The file is not text in an encoding that could be recognised: save it as UTF-8.")
            ) from None
        return best.encoding
    return "utf-8"


def _csv_rows(content: bytes) -> Iterator[list[str]]:
    encoding = _encoding(content)
    if b"\x00" in content[:SAMPLE_BYTES] and not encoding.startswith("utf-16"):
        raise FileError(_("The file is not a spreadsheet or a text table (it holds binary data)."))
    sample = content[:SAMPLE_BYTES].decode(encoding, errors="ignore")
    try:
        dialect: Any = csv.Sniffer().sniff(sample, delimiters=DELIMITERS)
    except csv.Error:
        dialect = csv.excel
    text = io.TextIOWrapper(io.BytesIO(content), encoding=encoding, newline="")
    reader = csv.reader(text, delimiter=dialect.delimiter, quotechar='"', doublequote=True, strict=False)
    try:
        yield from reader
    except (csv.Error, UnicodeDecodeError) as exc:
        raise FileError(
            _("The file cannot be read as CSV near line %(line)d: %(error)s") % {"line": reader.line_num, "error": exc}
        ) from None


# --- Spreadsheets --------------------------------------------------------------------


def _xlsx_rows(content: bytes) -> Iterator[list[Any]]:
    import openpyxl
    from openpyxl.utils.exceptions import InvalidFileException

    try:
        # Read only: the sheet is streamed, not built in memory. Cached values, not formulas.
        book = openpyxl.load_workbook(io.BytesIO(content), read_only=True, data_only=True)
    except (InvalidFileException, zipfile.BadZipFile, KeyError, OSError, ValueError) as exc:
        raise FileError(_("The file cannot be read as an XLSX spreadsheet: %(error)s") % {"error": exc}) from None
    try:
        sheet = book.worksheets[0]
        for row in sheet.iter_rows(values_only=True):
            yield list(row)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError) as exc:
        raise FileError(_("The file cannot be read as an XLSX spreadsheet: %(error)s") % {"error": exc}) from None
    finally:
        book.close()


def _ods_rows(content: bytes) -> Iterator[list[Any]]:
    # python-calamine (Rust) reads the first sheet whole; odfpy would build the whole
    # document as Python objects, many times the file's size.
    from python_calamine import CalamineError, CalamineWorkbook

    try:
        sheet = CalamineWorkbook.from_filelike(io.BytesIO(content)).get_sheet_by_index(0)
        rows = sheet.iter_rows()
    except (CalamineError, ValueError, IndexError, OSError) as exc:
        raise FileError(_("The file cannot be read as an ODS spreadsheet: %(error)s") % {"error": exc}) from None
    for row in rows:
        yield list(row)
