"""Render the report's content as one self-contained HTML file and as Markdown.

All text (run names, dataset sentences) is escaped: ``html.escape`` for HTML, pipes and line breaks
for Markdown tables. Plots are inline PNGs in the HTML and files under ``figures/`` for Markdown.
"""

from __future__ import annotations

import base64
import html
import re
from typing import Any

from debias.eval.report import content
from debias.eval.report.content import Table

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:2em auto;max-width:1200px;
color:#222;line-height:1.4;padding:0 1em}
h1{font-size:1.6em;margin-bottom:.2em}h2{font-size:1.25em;margin-top:1.8em;border-bottom:1px solid #ddd}
h3{font-size:1.05em;margin-top:1.2em}
.scroll{overflow-x:auto}table{border-collapse:collapse;margin:.6em 0;font-size:.85em}
td:first-child{min-width:14em}th,td{border:1px solid #ccc;padding:3px 7px;
text-align:left;vertical-align:top}th{background:#f3f3f3}td.num{text-align:right;font-variant-numeric:tabular-nums}
tr.significant td{background:#fff4d6}.note{color:#555;font-size:.85em;margin:.2em 0 1em}
.headline{background:#f6f8fa;border-left:4px solid #d62728;padding:.6em 1em}
img{max-width:100%;border:1px solid #eee;margin:.4em 0}details{margin:.5em 0}
"""


_NUMERIC = re.compile(r"\[?[+\-]?(\d|nan)[^A-Za-z]*((e[+\-]?\d+|nan)[^A-Za-z]*)*")


def _is_number(cell: str) -> bool:
    """Numbers and intervals ("0.50 [0.47, 0.53]", "+1.03", "89.1 → 98.4") are right-aligned."""
    return bool(_NUMERIC.fullmatch(cell.strip()))


def table_html(t: Table, level: int | None = 3) -> str:
    out = [f"<h{level}>{html.escape(t.title)}</h{level}>"] if level else []
    out.append("<div class='scroll'><table><thead><tr>")
    out += [f"<th>{html.escape(h)}</th>" for h in t.header]
    out.append("</tr></thead><tbody>")
    for i, row in enumerate(t.rows):
        mark = t.marks[i] if i < len(t.marks) else ""
        out.append(f'<tr class="{mark}">' if mark else "<tr>")
        out += [f'<td class="num">{html.escape(c)}</td>' if _is_number(c) else f"<td>{html.escape(c)}</td>" for c in row]
        out.append("</tr>")
    out.append("</tbody></table></div>")
    if t.note:
        out.append(f'<p class="note">{html.escape(t.note)}</p>')
    return "\n".join(out)


def _md_cell(text: str) -> str:
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ").replace("<", "&lt;")


def table_md(t: Table, level: int = 3) -> str:
    out = [f"{'#' * level} {_md_cell(t.title)}", "", "| " + " | ".join(_md_cell(h) for h in t.header) + " |",
           "|" + "---|" * len(t.header)]
    for i, row in enumerate(t.rows):
        mark = t.marks[i] if i < len(t.marks) else ""
        cells = [_md_cell(c) for c in row]
        if mark:
            cells[0] = f"**{cells[0]}**"
        out.append("| " + " | ".join(cells) + " |")
    if t.note:
        out += ["", f"_{_md_cell(t.note)}_"]
    return "\n".join(out) + "\n"


FOREST_NOTE = ("Each arm against its control on the protocol's link endpoint: the difference with its interval, "
               "marked by what the arm's known answer is (none for the arms whose effect is the question).")


def _forest_names(figures: dict[str, Any]) -> list[str]:
    return [n for n in figures if n.startswith("forest/")]


def render_html(data: dict[str, Any], figures: dict[str, bytes]) -> str:
    e = html.escape
    parts = [f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{e(data['title'])}</title>",
             f"<style>{CSS}</style></head><body>", f"<h1>{e(data['title'])}</h1>",
             f"<p class='note'>Generated {e(data['generated'])} from {len(data['runs'])} run(s).</p>"]
    parts.append("<div class='headline'>" + "<br>".join(e(x) for x in content.headline(data)) + "</div>")
    parts.append("<h2>Protocol</h2>" + table_html(content.protocol_table(data)))
    if data["instrument"]:
        parts.append("<h2>Instrument check</h2>" + table_html(content.instrument_table(data)))
    for name in _forest_names(figures):
        b64 = base64.b64encode(figures[name]).decode("ascii")
        parts.append(f"<img alt='{e(name)}' src='data:image/png;base64,{b64}'><p class='note'>{e(FOREST_NOTE)}</p>")
    parts.append("<h2>What was run</h2>" + table_html(content.runs_table(data)))
    parts.append("<h2>Comparisons</h2>")
    parts.append(f"<p class='note'>{e(content.METHODS)}</p>")
    parts += [table_html(t) for t in content.comparison_tables(data)]
    parts.append("<h2>Bias and cost per arm</h2>" + table_html(content.bias_table(data)) + table_html(content.cost_table(data)))
    curves = [n for n in figures if n not in _forest_names(figures)]
    if curves:
        parts.append("<h2>Curves</h2>")
    for name in curves:
        b64 = base64.b64encode(figures[name]).decode("ascii")
        parts.append(f"<img alt='{e(name)}' src='data:image/png;base64,{b64}'>")
    if data["emergence"]:
        parts.append("<h2>Emergence</h2>" + table_html(content.emergence_table(data)))
    movers = content.mover_tables(data)
    if movers:
        parts.append("<h2>Items that moved most</h2>" + "".join(table_html(t) for t in movers))
    parts.append("<h2>Data</h2>")
    for t in content.data_tables(data):
        parts.append(f"<details open><summary><b>{e(t.title)}</b></summary>{table_html(t, None)}</details>")
    parts.append("</body></html>")
    return "\n".join(parts)


def render_markdown(data: dict[str, Any], figure_files: dict[str, str]) -> str:
    parts = [f"# {_md_cell(data['title'])}", "", f"_Generated {data['generated']} from {len(data['runs'])} run(s)._", ""]
    parts += [f"- {_md_cell(x)}" for x in content.headline(data)]
    parts += ["", "## Protocol", "", table_md(content.protocol_table(data))]
    if data["instrument"]:
        parts += ["## Instrument check", "", table_md(content.instrument_table(data))]
    forest = _forest_names(figure_files)
    parts += [f"![{_md_cell(name)}]({figure_files[name]})" for name in forest] + ([FOREST_NOTE, ""] if forest else [])
    parts += ["## What was run", "", table_md(content.runs_table(data)), "## Comparisons", "", content.METHODS, ""]
    parts += [table_md(t) for t in content.comparison_tables(data)]
    parts += ["## Bias and cost per arm", "", table_md(content.bias_table(data)), table_md(content.cost_table(data))]
    curves = [name for name in figure_files if name not in forest]
    if curves:
        parts += ["## Curves", ""] + [f"![{_md_cell(name)}]({figure_files[name]})" for name in curves] + [""]
    if data["emergence"]:
        parts += ["## Emergence", "", table_md(content.emergence_table(data))]
    movers = content.mover_tables(data)
    if movers:
        parts += ["## Items that moved most", ""] + [table_md(t) for t in movers]
    parts += ["## Data", ""] + [table_md(t) for t in content.data_tables(data)]
    return "\n".join(parts)


def _models_table(data: dict[str, Any]) -> Table:
    t = Table("Models", ["model", "commit", "step", "items scored", "results"])
    for m in data["models"]:
        for c in m["checkpoints"]:
            commit = (c.get("source") or {}).get("commit") or "-"
            t.rows.append([c["name"], commit[:12], str(c["step"] if c["step"] is not None else "-"),
                           f"{sum(c['items'].values()):,} in {len(c['items'])} tasks", str(c["cache"])])
    t.note = "Each revision is pinned to the commit it resolved to when evaluated; its results are cached at the path shown."
    return t


def render_pairs_html(data: dict[str, Any], figures: dict[str, bytes]) -> str:
    """The report of model pairs: reading, protocol, models, comparisons, curves."""
    from debias.eval.report.pairs import pairs_headline

    e = html.escape
    parts = [f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{e(data['title'])}</title>",
             f"<style>{CSS}</style></head><body>", f"<h1>{e(data['title'])}</h1>",
             f"<p class='note'>Generated {e(data['generated'])} from {len(data['models'])} model(s).</p>",
             "<div class='headline'>" + "<br>".join(e(x) for x in pairs_headline(data)) + "</div>",
             "<h2>Protocol</h2>" + table_html(content.protocol_table(data)),
             "<h2>Models</h2>" + table_html(_models_table(data), None),
             "<h2>Comparisons</h2>", f"<p class='note'>{e(data['method'])}</p>"]
    parts += [table_html(t) for t in content.comparison_tables(data)]
    if figures:
        parts.append("<h2>Curves</h2>")
    for name, png in figures.items():
        parts.append(f"<img alt='{e(name)}' src='data:image/png;base64,{base64.b64encode(png).decode('ascii')}'>")
    if data["emergence"]:
        parts.append("<h2>Emergence</h2>" + table_html(content.emergence_table(data)))
    parts.append("</body></html>")
    return "\n".join(parts)


def render_pairs_markdown(data: dict[str, Any], figure_files: dict[str, str]) -> str:
    from debias.eval.report.pairs import pairs_headline

    parts = [f"# {_md_cell(data['title'])}", "", f"_Generated {data['generated']} from {len(data['models'])} model(s)._", ""]
    parts += [f"- {_md_cell(x)}" for x in pairs_headline(data)]
    parts += ["", "## Protocol", "", table_md(content.protocol_table(data)), "## Models", "", table_md(_models_table(data)),
              "## Comparisons", "", data["method"], ""]
    parts += [table_md(t) for t in content.comparison_tables(data)]
    if figure_files:
        parts += ["## Curves", ""] + [f"![{_md_cell(name)}]({path})" for name, path in figure_files.items()] + [""]
    if data["emergence"]:
        parts += ["## Emergence", "", table_md(content.emergence_table(data))]
    return "\n".join(parts)
