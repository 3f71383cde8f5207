"""Rows of a CSV or Excel file as dicts (header -> cell), numbered as the spreadsheet numbers them.

Row numbers are 1-based and count the header row (and any title rows above it), so "row 7"
is the row a user sees as 7 in Excel, or the 7th record of a CSV file. Blank rows are skipped
(their numbers are not reused).

CSV: UTF-8 (with or without a BOM) is tried first, then Shift_JIS (cp932, as Excel on Japanese
Windows saves it). ``.tsv`` files are tab-separated. Excel: ``.xlsx`` / ``.xlsm`` through openpyxl
in read-only mode, the first sheet unless one is named; cells keep their types (numbers, dates).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from services.importer import ImportSetupError

CSV_ENCODINGS = ("utf-8-sig", "cp932")
EXCEL_SUFFIXES = {".xlsx", ".xlsm"}


class InputError(ImportSetupError):
    """An input file that cannot be read."""


@dataclass
class Table:
    """The header of a file and an iterator over its data rows."""

    source: str
    headers: list[str]
    rows: Iterator[tuple[int, dict[str, Any]]]
    total: int | None  # data rows (upper bound, blank rows included), when known up front
    detail: str  # "CSV, cp932" / "Excel, sheet 案件一覧"
    sheet: str | None = None  # as asked (None: the first)
    header_row: int = 1

    def reopened(self) -> Table:
        """The same file opened again, its rows from the first (a process importing some of them reads its own)."""
        return open_table(self.source, self.sheet, self.header_row)


def open_table(path: str | Path, sheet: str | None = None, header_row: int = 1) -> Table:
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    suffix = path.suffix.lower()
    if suffix == ".xls":
        raise InputError(f"{path}: the old .xls format is not supported; save it as .xlsx or CSV")
    try:
        with path.open("rb") as f:
            magic = f.read(4)
    except OSError as error:
        raise InputError(f"{path}: cannot read the file: {error.strerror or error}") from None
    if suffix in EXCEL_SUFFIXES or (suffix not in {".csv", ".tsv", ".txt"} and magic == b"PK\x03\x04"):
        return _excel(path, sheet, header_row)
    if sheet is not None:
        raise InputError(f"{path}: --sheet applies to Excel files only")
    return _csv(path, header_row, delimiter="\t" if suffix == ".tsv" else ",")


def _decode(path: Path) -> tuple[str, str]:
    try:
        data = path.read_bytes()
    except OSError as error:
        raise InputError(f"{path}: cannot read the file: {error.strerror or error}") from None
    for encoding in CSV_ENCODINGS:
        try:
            return data.decode(encoding), encoding
        except UnicodeDecodeError:
            continue
    raise InputError(f"{path}: the file is neither UTF-8 nor Shift_JIS (cp932); save it as CSV UTF-8")


def _csv(path: Path, header_row: int, delimiter: str) -> Table:
    text, encoding = _decode(path)
    try:
        records = sum(1 for _ in csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))
    except csv.Error as error:
        raise InputError(f"{path}: not a readable CSV file: {error}") from None
    if records < header_row:
        raise InputError(f"{path}: no header row (the file has {records} row(s), the header is expected in row "
                         f"{header_row})")
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    for _ in range(header_row - 1):
        next(reader)
    headers = [h.strip() for h in next(reader)]

    def rows() -> Iterator[tuple[int, dict[str, Any]]]:
        try:
            for number, record in enumerate(reader, start=header_row + 1):
                if any(cell.strip() for cell in record):
                    yield number, dict(zip(headers, record, strict=False))
        except csv.Error as error:
            raise InputError(f"{path}: row {reader.line_num}: {error}") from None

    return Table(str(path), headers, rows(), records - header_row, f"CSV, {encoding}", header_row=header_row)


def _excel(path: Path, sheet: str | None, header_row: int) -> Table:
    import openpyxl

    try:
        book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as error:  # openpyxl raises many kinds (zip, XML, key errors) for a file it cannot read
        raise InputError(f"{path}: cannot read it as an Excel workbook: {error}") from None
    if sheet is not None and sheet not in book.sheetnames:
        book.close()
        raise InputError(f"{path}: no sheet '{sheet}'; the sheets are: {', '.join(book.sheetnames)}")
    ws = book[sheet] if sheet is not None else book.worksheets[0]
    cells = ws.iter_rows(values_only=True)
    headers: list[str] | None = None
    for number, values in enumerate(cells, start=1):
        if number == header_row:
            headers = [_header(v) for v in values]
            break
    if headers is None:
        book.close()
        raise InputError(f"{path}: sheet '{ws.title}' has no row {header_row} (the header row)")
    total = ws.max_row - header_row if ws.max_row else None

    def rows() -> Iterator[tuple[int, dict[str, Any]]]:
        try:
            for number, values in enumerate(cells, start=header_row + 1):
                if any(v is not None and str(v).strip() for v in values):
                    yield number, {h: v for h, v in zip(headers, values, strict=False) if h}
        finally:
            book.close()

    return Table(str(path), headers, rows(), total, f"Excel, sheet {ws.title}", sheet, header_row)


def _header(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip()
