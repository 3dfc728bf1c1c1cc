"""The annotation files of the micro-expression releases: spreadsheets read with openpyxl.

Each release codes its micro-expressions in an ``.xlsx`` file with one row per
expression, but the files differ in where the header is and how columns are
spelled: CASME II's ``CASME2-coding-20140508.xlsx`` has its header in row 1
(``OnsetFrame``, with two blank columns), SAMM's
``SAMM_Micro_FACS_Codes_v2.xlsx`` has 13 rows of notes before the header in
row 14 (``Onset Frame``), CAS(ME)^3's label file says ``Onset``. So the header
row is found, not assumed: the first row (of the first 40) that names every
required column, where a column name matches after dropping case, spaces and
punctuation. A column that two header cells could be (``Onset`` beside
``OnsetFrame``) is an error, not a guess. Every row keeps its file, sheet and
1-based row number, so a problem is reported where a person would look for it.

Every row is read whatever the sheet's stored ``<dimension>`` says (some tools
write a stale one, ``A1:H3``, which openpyxl's read-only mode would trust), and
a file beyond a stated size is refused before it is unpacked: no part of the
``.xlsx`` (a worksheet, the shared strings) may unpack to more than
:data:`MAX_PART_BYTES`, and no sheet may run past :data:`MAX_ROWS` rows. The
releases' files are far below both (CAS(ME)^3's, the largest, has 861 rows).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.errors import DataError

HEADER_SEARCH_ROWS = 40
#: The most bytes one part of an annotation ``.xlsx`` (a worksheet, the shared strings) may unpack to.
MAX_PART_BYTES = 32 * 1024 * 1024
#: The most rows an annotation sheet may have (the releases have at most about a thousand).
MAX_ROWS = 20_000

#: Column names as the releases spell them, after :func:`normalize`: onset is ``OnsetFrame`` (CASME II,
#: MMEW), ``Onset Frame`` (SAMM) or ``Onset`` (CAS(ME)^3); the label is ``Estimated Emotion`` or ``emotion``.
COLUMNS = {
    "subject": ("subject",),
    "filename": ("filename",),
    "onset": ("onsetframe", "onset", "onsetf"),
    "apex": ("apexframe", "apex", "apexf", "apexf1"),
    "offset": ("offsetframe", "offset", "offsetf"),
    "emotion": ("estimatedemotion", "emotion"),
    "action_units": ("actionunits", "au", "aus"),
    "objective_class": ("objectiveclasses", "objectiveclass"),
}


def normalize(name: Any) -> str:
    """``'Onset Frame'`` -> ``'onsetframe'``: header cells compared without case, spaces or punctuation."""
    return re.sub(r"[^0-9a-z]", "", str(name or "").lower())


@dataclass(frozen=True)
class SheetRow:
    """One annotation row: its cells by column (``subject``, ``onset``, ...) and where it is."""

    file: str
    sheet: str
    number: int  # 1-based, as a spreadsheet shows it
    cells: dict[str, Any]

    @property
    def where(self) -> str:
        return f"{self.file} [{self.sheet}] row {self.number}"

    def text(self, column: str) -> str:
        """A cell as text: ``1`` and ``1.0`` read ``'1'``, an empty cell reads ``''``."""
        value = self.cells.get(column)
        if value is None:
            return ""
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        return str(value).strip()


def read_rows(path: Path, required: tuple[str, ...], optional: tuple[str, ...] = (),
              sheet: str | None = None) -> list[SheetRow]:
    """Every non-empty row under the header of ``path``, with the ``required`` and ``optional`` columns.

    ``sheet`` names the sheet to read first (``MICRO_ONLY``, ``label``); the other sheets are
    looked at when it is missing or has no header with the required columns.
    """
    import openpyxl  # imported here: listing tasks must not load it

    _check_size(path)
    try:
        book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except FileNotFoundError:
        raise DataError(f"{path}: annotation file missing") from None
    except Exception as exc:  # openpyxl raises several kinds for a file that is not an .xlsx
        raise DataError(f"{path}: not a readable .xlsx file ({type(exc).__name__}: {exc})") from None
    try:
        names = ([sheet] if sheet in book.sheetnames else []) + [n for n in book.sheetnames if n != sheet]
        for name in names:
            rows = _all_rows(book[name], f"{path} [{name}]")
            found = _header(rows, required, optional, f"{path} [{name}]")
            if found is None:
                continue
            header_index, columns = found
            out = []
            for offset, values in enumerate(rows[header_index + 1:], start=header_index + 2):
                cells = {col: values[i] if i < len(values) else None for col, i in columns.items()}
                if all(v is None or str(v).strip() == "" for v in cells.values()):
                    continue
                out.append(SheetRow(path.name, name, offset, cells))
            return out
    finally:
        book.close()
    wanted = ", ".join(f"{c} ({' or '.join(COLUMNS.get(c, (c,)))})" for c in required)
    raise DataError(f"{path}: no sheet has a header row with the columns {wanted} in its first "
                    f"{HEADER_SEARCH_ROWS} rows (sheets: {', '.join(names) or 'none'})")


def _check_size(path: Path) -> None:
    """Refuse an ``.xlsx`` whose parts unpack beyond :data:`MAX_PART_BYTES` (a small file can hold a huge
    string or sheet), before openpyxl unpacks it."""
    import zipfile

    try:
        with zipfile.ZipFile(path) as archive:
            parts = archive.infolist()
    except FileNotFoundError:
        raise DataError(f"{path}: annotation file missing") from None
    except (OSError, zipfile.BadZipFile, ValueError) as exc:
        raise DataError(f"{path}: not a readable .xlsx file ({type(exc).__name__}: {exc})") from None
    for part in parts:
        if part.file_size > MAX_PART_BYTES:
            raise DataError(f"{path}: its part {part.filename} unpacks to {part.file_size:,} bytes, more than "
                            f"an annotation file needs (limit MAX_PART_BYTES = {MAX_PART_BYTES:,} in "
                            f"harness.tasks.microexpr_sheets); is it the right file?")


def _all_rows(sheet, where: str) -> list[tuple]:
    """Every row of a read-only sheet, whatever its stored dimension says, up to :data:`MAX_ROWS`."""
    sheet.reset_dimensions()  # a stale <dimension ref="A1:H3"> would end the rows (and columns) early
    rows = []
    for values in sheet.iter_rows(values_only=True):
        if len(rows) >= MAX_ROWS:
            raise DataError(f"{where}: more than {MAX_ROWS:,} rows, more than an annotation sheet needs (limit "
                            f"MAX_ROWS = {MAX_ROWS:,} in harness.tasks.microexpr_sheets); is it the right file?")
        rows.append(values)
    return rows


def _header(rows: list[tuple], required: tuple[str, ...], optional: tuple[str, ...], where: str):
    for index, values in enumerate(rows[:HEADER_SEARCH_ROWS]):
        seen: dict[str, list[int]] = {}
        for i, v in enumerate(values):
            if normalize(v):
                seen.setdefault(normalize(v), []).append(i)
        found = {column: sorted(i for alias in COLUMNS.get(column, (column,)) for i in seen.get(alias, ()))
                 for column in required + optional}
        if not all(found[c] for c in required):
            continue
        for column in required:
            if len(found[column]) > 1:
                cells = " and ".join(f"{values[i]!r} (column {_letter(i)})" for i in found[column])
                raise DataError(f"{where} row {index + 1}: the {column} column could be {cells}; rename or remove "
                                f"one so the column read is not a guess")
        return index, {c: positions[0] for c, positions in found.items() if positions}
    return None


def _letter(index: int) -> str:
    """0 -> ``A``, 26 -> ``AA``: a column as a spreadsheet names it."""
    out = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        out = chr(65 + rest) + out
    return out


@dataclass(frozen=True)
class FrameValue:
    """A frame number read from a cell: the number, or why there is none (``'/'``, empty, text)."""

    number: int | None
    problem: str | None = None


def frame_value(value: Any) -> FrameValue:
    """``46``, ``46.0`` and ``'46'`` are frame 46; ``'/'`` and an empty cell are missing; anything else is
    not a frame number. Negative numbers are impossible frame numbers."""
    if value is None or (isinstance(value, str) and value.strip() == ""):
        return FrameValue(None, "is empty")
    if isinstance(value, bool):
        return FrameValue(None, f"is not a frame number: {value!r}")
    if isinstance(value, (int, float)):
        if isinstance(value, float) and not value.is_integer():
            return FrameValue(None, f"is not a whole frame number: {value!r}")
        number = int(value)
    else:
        text = str(value).strip()
        if not re.fullmatch(r"-?\d+(\.0+)?", text):
            return FrameValue(None, f"is not a frame number: {text!r}")
        number = int(float(text))
    if number < 0:
        return FrameValue(None, f"is a negative frame number ({number})")
    return FrameValue(number)
