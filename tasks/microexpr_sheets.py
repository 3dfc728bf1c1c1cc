"""The annotation files of the micro-expression releases: spreadsheets read with openpyxl.

Each release codes its micro-expressions in an ``.xlsx`` file with one row per
expression, but the files differ in where the header is and how columns are
spelled: CASME II's ``CASME2-coding-20140508.xlsx`` has its header in row 1
(``OnsetFrame``, with two blank columns), SAMM's
``SAMM_Micro_FACS_Codes_v2.xlsx`` has 13 rows of notes before the header in
row 14 (``Onset Frame``), CAS(ME)^3's label file says ``Onset``. So the header
row is found, not assumed: the first row (of the first 40) that names every
required column, where a column name matches after dropping case, spaces and
punctuation. Every row keeps its file, sheet and 1-based row number, so a
problem is reported where a person would look for it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.errors import DataError

HEADER_SEARCH_ROWS = 40

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

    try:
        book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except FileNotFoundError:
        raise DataError(f"{path}: annotation file missing") from None
    except Exception as exc:  # openpyxl raises several kinds for a file that is not an .xlsx
        raise DataError(f"{path}: not a readable .xlsx file ({type(exc).__name__}: {exc})") from None
    try:
        names = ([sheet] if sheet in book.sheetnames else []) + [n for n in book.sheetnames if n != sheet]
        for name in names:
            rows = list(book[name].iter_rows(values_only=True))
            found = _header(rows, required, optional)
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


def _header(rows: list[tuple], required: tuple[str, ...], optional: tuple[str, ...]):
    for index, values in enumerate(rows[:HEADER_SEARCH_ROWS]):
        seen = {normalize(v): i for i, v in reversed(list(enumerate(values))) if normalize(v)}
        columns = {}
        for column in required + optional:
            position = next((seen[alias] for alias in COLUMNS.get(column, (column,)) if alias in seen), None)
            if position is not None:
                columns[column] = position
        if all(c in columns for c in required):
            return index, columns
    return None


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
