"""Bits every review page shares: escaping, tables, and an offline page with a strict CSP.

Every string that may come from a file (names, categories, paths) goes through :func:`esc`
into HTML text or attribute values, never into JavaScript. The page's own script is allowed by
its SHA-256 in the Content-Security-Policy and nothing else runs, so even a name that slipped
past escaping could not execute; ``connect-src 'none'`` and local images only keep the page
offline.
"""

from __future__ import annotations

import base64
import hashlib
import html
import math
from collections.abc import Iterable, Sequence

from mammorcnn import __version__

STYLE = """
body{font:14px/1.4 system-ui,sans-serif;margin:1.2em;color:#222;background:#fafafa}
h1{font-size:1.5em;margin:0 0 .3em}h2{font-size:1.2em;margin:1.2em 0 .4em}
table{border-collapse:collapse;margin:.4em 0}td,th{border:1px solid #ccc;padding:2px 7px;
text-align:right}th{background:#eee}td.l,th.l{text-align:left}
.meta td{text-align:left}.plots img{max-width:48%;min-width:300px;margin-right:1%}
.legend span{display:inline-block;margin-right:1.2em}
.sw{display:inline-block;width:1em;height:1em;vertical-align:middle;margin-right:.3em;
border:1px solid #555}
.controls{margin:.6em 0;padding:.4em;background:#eee}.controls>*{margin-right:1em}
.grid{display:flex;flex-wrap:wrap;gap:10px}
.card{width:260px;margin:0;background:#fff;border:1px solid #ccc;padding:4px}
.card img{display:block;max-width:256px;height:auto;background:#000}
.card .name{font-weight:600;word-break:break-all}.bad{color:#b00}.small{font-size:12px}
.row{display:flex;gap:10px;flex-wrap:wrap;margin-bottom:10px}
"""


def esc(value: object) -> str:
    """HTML-escaped text (quotes too, so it is safe in attribute values)."""
    return html.escape("" if value is None else str(value), quote=True)


def num(value: float | None, digits: int = 3) -> str:
    """A number for a table cell; n/a for None or NaN."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return f"{value:.{digits}f}"


def attr_num(value: float | None) -> str:
    """A number for a data-* attribute (empty for None): only digits, sign, dot, exponent."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return ""
    return repr(float(value))


def table(headers: Sequence[str], rows: Iterable[Sequence[str]], cls: str = "") -> str:
    """A table of cells that are already HTML (escape text cells with :func:`esc`)."""
    head = "".join(f"<th>{h}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    return f'<table class="{cls}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def meta_table(items: Iterable[tuple[str, object]]) -> str:
    """Two-column table of labels and escaped values."""
    rows = "".join(f"<tr><th class='l'>{esc(k)}</th><td>{esc(v)}</td></tr>" for k, v in items)
    return f'<table class="meta">{rows}</table>'


def page(title: str, body: str, script: str = "") -> str:
    """A whole offline HTML page. ``title`` is escaped here; ``body`` must be escaped HTML."""
    digest = base64.b64encode(hashlib.sha256(script.encode("utf-8")).digest()).decode("ascii")
    csp = (
        "default-src 'none'; img-src 'self' file: data:; style-src 'unsafe-inline'; "
        f"script-src 'sha256-{digest}'; connect-src 'none'; base-uri 'none'; form-action 'none'"
    )
    script_tag = f"<script>{script}</script>" if script else ""
    return (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        f'<meta http-equiv="Content-Security-Policy" content="{csp}">'
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>{esc(title)}</title><style>{STYLE}</style></head><body>"
        f"{body}<p class='small'>made by mammorcnn {esc(__version__)}</p>{script_tag}"
        "</body></html>\n"
    )
