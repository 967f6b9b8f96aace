"""INbreast's per-image table: ``INbreast.csv`` (';'-separated, made by users) or the
``INbreast.xls`` the dataset ships, read with xlrd (an optional dependency).

The table gives each file's BI-RADS, view and laterality: the dataset's own metadata, which
wins over the file names (the names say ``ML`` where the table says ``MLO``).
"""

from __future__ import annotations

from pathlib import Path

from mammorcnn.data.convert.files import read_table
from mammorcnn.errors import AnnotationError

XLS_HELP = (
    "reading INbreast.xls needs the xlrd package (pip install xlrd); or save the sheet as "
    "INbreast.csv beside it (e.g. `libreoffice --headless --convert-to csv INbreast.xls`)"
)


def _cell(value: object) -> str:
    """An .xls cell as the CSV would hold it (Excel stores 22678622 and BI-RADS 2 as floats)."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def read_xls(path: Path) -> list[dict[str, str]]:
    """Rows of the first sheet, column names normalised like :func:`read_table`'s."""
    try:
        import xlrd
    except ImportError:
        raise AnnotationError(path, XLS_HELP) from None
    try:
        sheet = xlrd.open_workbook(path).sheet_by_index(0)
        rows = [[_cell(v) for v in sheet.row_values(i)] for i in range(sheet.nrows)]
    except Exception as e:  # xlrd raises many types on a damaged workbook; name it
        raise AnnotationError(path, f"not a readable .xls workbook ({type(e).__name__})") from None
    if not rows:
        raise AnnotationError(path, "empty sheet")
    header = [" ".join(h.lower().replace("_", " ").split()) for h in rows[0]]
    return [dict(zip(header, row)) for row in rows[1:] if any(row)]


def _is_table(rows: list[dict[str, str]]) -> bool:
    return bool(rows) and "file name" in rows[0] and "bi-rads" in rows[0]


def read_metadata(
    src: Path, need: bool
) -> tuple[dict[str, dict[str, str]], str | None, str | None]:
    """File id -> its row, the table's name (None when there is none), and why an .xls found
    could not be read (None when it was, or there is none).

    ``need`` (the pathology mapping needs BI-RADS): an INbreast.xls that cannot be read is an
    error then; otherwise views and laterality fall back to the file names.
    """
    unread = None
    for table in sorted(src.rglob("*.csv")):
        try:
            rows = read_table(table)
        except AnnotationError:  # some other CSV lying around; INbreast.csv may still follow
            continue
        if _is_table(rows):
            return {r["file name"]: r for r in rows if r["file name"]}, table.name, None
    for book in sorted(p for p in src.rglob("*.xls") if p.is_file()):
        try:
            rows = read_xls(book)
        except AnnotationError as e:
            if need:
                raise
            unread = str(e)
            continue
        if _is_table(rows):
            return {r["file name"]: r for r in rows if r["file name"]}, book.name, None
    return {}, None, unread
