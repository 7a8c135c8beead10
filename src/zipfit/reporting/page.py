"""The report as one self-contained HTML page: plots embedded as data URIs, inline style, no script, no network."""

from __future__ import annotations

import base64
import html
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

STYLE = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0;color:#1f2328;background:#fff}
header{padding:18px 28px;background:#f6f8fa;border-bottom:1px solid #d0d7de}
h1{font-size:21px;margin:0 0 6px} h2{font-size:17px;margin:26px 0 8px;border-bottom:1px solid #d0d7de}
h3{font-size:14px;margin:16px 0 6px}
main{padding:0 28px 40px;max-width:1200px}
nav a{margin-right:14px;color:#0969da;text-decoration:none}
img{max-width:100%;height:auto;display:block;margin:8px 0}
table{border-collapse:collapse;margin:6px 0 12px;font-size:13px}
td,th{border:1px solid #d0d7de;padding:3px 8px;text-align:left;vertical-align:top}
th{background:#f6f8fa} td.num{text-align:right;font-variant-numeric:tabular-nums}
pre{white-space:pre-wrap;word-break:break-word;margin:0;font:12px/1.35 ui-monospace,monospace;max-width:760px}
.note{color:#57606a} .key{font-weight:600}
"""


def esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def number(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return esc(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.4g}" if abs(value) < 1e4 else f"{value:,.0f}"
    return esc(value)


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]], *, pre: Sequence[int] = ()) -> str:
    """A table; numbers right-aligned, the columns in ``pre`` as preformatted text."""
    out = ["<table><tr>", *(f"<th>{esc(h)}</th>" for h in headers), "</tr>"]
    for row in rows:
        out.append("<tr>")
        for i, cell in enumerate(row):
            if i in pre:
                out.append(f"<td><pre>{esc('' if cell is None else cell)}</pre></td>")
            elif isinstance(cell, (int, float)) and not isinstance(cell, bool):
                out.append(f'<td class="num">{number(cell)}</td>')
            else:
                out.append(f"<td>{esc('' if cell is None else cell)}</td>")
        out.append("</tr>")
    out.append("</table>")
    return "".join(out)


def image(png: bytes, alt: str) -> str:
    return f'<img alt="{esc(alt)}" src="data:image/png;base64,{base64.b64encode(png).decode("ascii")}">'


def key_values(mapping: Mapping[str, Any]) -> str:
    """A flat two-column table of a manifest block; nested values as compact JSON."""
    rows = [(k, v if isinstance(v, (int, float, str)) or v is None else json.dumps(v, default=str))
            for k, v in mapping.items()]
    return table(["", ""], rows, pre=(1,))


class Page:
    """Sections in order, each with an id the browser test looks for."""

    def __init__(self, title: str, summary: str) -> None:
        self.title = title
        self.summary = summary
        self.sections: list[tuple[str, str, list[str]]] = []

    def section(self, anchor: str, heading: str, *parts: str) -> None:
        self.sections.append((anchor, heading, list(parts)))

    def render(self) -> str:
        nav = "".join(f'<a href="#{a}">{esc(h)}</a>' for a, h, _ in self.sections)
        body = "".join(f'<section id="{a}"><h2>{esc(h)}</h2>{"".join(parts)}</section>'
                       for a, h, parts in self.sections)
        return (f'<!doctype html><html lang="en"><head><meta charset="utf-8">'
                f'<meta name="viewport" content="width=device-width, initial-scale=1">'
                f"<title>{esc(self.title)}</title><style>{STYLE}</style></head><body>"
                f"<header><h1>{esc(self.title)}</h1><p>{self.summary}</p><nav>{nav}</nav></header>"
                f"<main>{body}</main></body></html>\n")
