"""Self-contained HTML pages: the science report and the interactive embedding explorer.

Each page is one file with its CSS, images (base64 data URIs), data (JSON) and scripts inline,
so it can be mailed, archived with a run or opened from any storage without a server, and it
loads nothing from the network.
"""

from __future__ import annotations

import base64
import json
import math
from collections.abc import Mapping, Sequence
from html import escape
from numbers import Integral, Real

MISSING = "–"

# An empty data-URI icon stops the browser from asking for /favicon.ico.
_HEAD = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,">
"""

_BASE_CSS = """
:root { --ink: #1d2330; --muted: #5d6675; --line: #dde1e7; --accent: #0072b2;
        --paper: #ffffff; --back: #f5f6f8; --best: #e3f1e6; }
* { box-sizing: border-box; }
body { margin: 0; background: var(--back); color: var(--ink);
       font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial,
       sans-serif; }
header { background: var(--ink); color: #fff; padding: 22px 32px; }
header h1 { margin: 0; font-size: 22px; font-weight: 600; letter-spacing: .2px; }
header p { margin: 4px 0 0; color: #c3c9d4; font-size: 13px; }
main { max-width: 1240px; margin: 0 auto; padding: 24px 32px 48px; }
section { background: var(--paper); border: 1px solid var(--line); border-radius: 8px;
          padding: 18px 22px; margin-bottom: 22px; }
h2 { font-size: 17px; margin: 0 0 12px; font-weight: 600; }
"""

_REPORT_CSS = """
nav { display: flex; flex-wrap: wrap; gap: 6px 18px; margin-top: 10px; font-size: 13px; }
nav a { color: #c3c9d4; text-decoration: none; }
nav a:hover { color: #fff; text-decoration: underline; }
.table-wrap { overflow-x: auto; }
table { border-collapse: collapse; width: 100%; font-size: 14px;
        font-variant-numeric: tabular-nums; }
th, td { padding: 7px 12px; border-bottom: 1px solid var(--line); text-align: right;
         white-space: nowrap; }
th { font-weight: 600; color: var(--muted); border-bottom: 2px solid var(--line); }
th:first-child, td:first-child { text-align: left; }
td:first-child { font-weight: 600; }
tbody tr:hover { background: #fafbfc; }
td.best { background: var(--best); font-weight: 700; }
td.missing { color: #a0a6b0; }
.legend { color: var(--muted); font-size: 12.5px; margin: 10px 0 0; }
.ci { color: var(--muted); font-size: 12px; }
.verdict { font-size: 12px; }
td.ahead { background: var(--best); }
td.behind { background: #fbe9e7; }
.notes ul { margin: 0; padding-left: 20px; }
.notes li { margin: 3px 0; }
main { max-width: 1320px; }
/* Two figures a row on a wide screen, one on a narrow one; images only ever scale down. */
.figures { display: grid; grid-template-columns: repeat(auto-fill, minmax(520px, 1fr));
           gap: 18px; align-items: start; }
figure { margin: 0; border: 1px solid var(--line); border-radius: 6px; padding: 10px;
         background: #fff; min-width: 0; }
figure img { display: block; width: 100%; height: auto; margin: 0 auto; }
figcaption { color: var(--muted); font-size: 13px; margin-top: 8px; text-align: center; }
.empty { color: var(--muted); font-style: italic; margin: 0; }
"""

_EXPLORER_CSS = """
main { display: grid; grid-template-columns: minmax(0, 1fr) 360px; gap: 22px; }
@media (max-width: 900px) { main { grid-template-columns: 1fr; } }
#plot-wrap { position: relative; height: 640px; }
#plot { display: block; width: 100%; height: 100%; cursor: crosshair; }
#tooltip { position: absolute; pointer-events: none; display: none; background: var(--ink);
           color: #fff; font-size: 12.5px; line-height: 1.45; padding: 7px 10px;
           border-radius: 5px; box-shadow: 0 2px 8px rgba(0, 0, 0, .25); white-space: nowrap; }
#legend { display: flex; flex-wrap: wrap; gap: 4px 16px; font-size: 13px; margin-top: 10px;
          color: var(--muted); }
.swatch { display: inline-block; width: 10px; height: 10px; border-radius: 50%;
          margin-right: 6px; vertical-align: baseline; }
form { display: flex; gap: 8px; }
input[type=search] { flex: 1; min-width: 0; padding: 7px 10px; font: inherit;
                     border: 1px solid var(--line); border-radius: 5px; }
button { padding: 7px 14px; font: inherit; border: 0; border-radius: 5px;
         background: var(--accent); color: #fff; cursor: pointer; }
button:hover { filter: brightness(1.1); }
.hint { color: var(--muted); font-size: 12.5px; margin: 8px 0 0; }
.message { margin: 14px 0 0; padding: 9px 12px; border-radius: 5px; background: #fdecea;
           color: #8a1c12; font-size: 14px; }
dl { display: grid; grid-template-columns: auto 1fr; gap: 2px 12px; margin: 14px 0 0;
     font-size: 14px; }
dt { color: var(--muted); }
dd { margin: 0; font-variant-numeric: tabular-nums; }
h3 { font-size: 14px; margin: 16px 0 6px; }
ol { margin: 0; padding-left: 22px; font-size: 14px; }
ol li { margin: 2px 0; }
ol a { color: var(--accent); text-decoration: none; }
ol a:hover { text-decoration: underline; }
.muted { color: var(--muted); }
"""


def png_data_uri(png: bytes) -> str:
    """``png`` as a ``data:image/png;base64,...`` URI."""
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _is_number(value: object) -> bool:
    # bool is a Real but a yes/no cell is not a metric to rank.
    return isinstance(value, Real) and not isinstance(value, bool) and math.isfinite(value)


def _format_value(value: object) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return MISSING
    if isinstance(value, bool) or not isinstance(value, Real):
        return str(value)
    if isinstance(value, Integral) or (float(value).is_integer() and abs(value) >= 1000):
        return f"{int(value):,}"
    return f"{value:.3f}" if abs(value) < 1000 else f"{value:,.1f}"


def _cell_value(value: object) -> object:
    """The number of a cell: a plain value, or the ``value`` of a ``{"value", "ci"}`` cell."""
    return value.get("value") if isinstance(value, Mapping) else value


def _best_values(
    rows: Sequence[Mapping[str, object]],
    columns: Sequence[str],
    higher_is_better: Mapping[str, bool],
) -> dict[str, float]:
    best: dict[str, float] = {}
    for column in columns:
        if column not in higher_is_better:
            continue
        values = [
            float(_cell_value(row[column]))
            for row in rows
            if _is_number(_cell_value(row.get(column)))
        ]
        if values:
            best[column] = max(values) if higher_is_better[column] else min(values)
    return best


def _cell_html(value: object) -> str:
    """A value, with its interval beneath when the cell carries one."""
    text = escape(_format_value(_cell_value(value)))
    ci = value.get("ci") if isinstance(value, Mapping) else None
    if ci and text != MISSING:
        low, high = (escape(_format_value(v)) for v in ci)
        text += f'<br><span class="ci">[{low}, {high}]</span>'
    return text


def _comparison_table(
    rows: Sequence[Mapping[str, object]], higher_is_better: Mapping[str, bool]
) -> str:
    if not rows:
        return '<p class="empty">No models to compare.</p>'
    # Columns in first-seen order, the model name first, so callers control the layout.
    columns = list(dict.fromkeys(key for row in rows for key in row if key != "model"))
    best = _best_values(rows, columns, higher_is_better)
    head = ["<th>model</th>"]
    for column in columns:
        arrow = {True: " ↑", False: " ↓"}.get(higher_is_better.get(column), "")
        head.append(f"<th>{escape(column)}{arrow}</th>")
    body = []
    intervals = False
    for row in rows:
        cells = [f"<td>{escape(_format_value(row.get('model')))}</td>"]
        for column in columns:
            value = row.get(column)
            number = _cell_value(value)
            intervals |= isinstance(value, Mapping) and bool(value.get("ci"))
            classes = []
            if column in best and _is_number(number) and float(number) == best[column]:
                classes.append("best")
            if _format_value(number) == MISSING:
                classes.append("missing")
            attr = f' class="{" ".join(classes)}"' if classes else ""
            cells.append(f"<td{attr}>{_cell_html(value)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    legend = ""
    if best:
        legend = (
            '<p class="legend">Best value per column highlighted (a highlight is not a '
            "resolved difference: see the paired comparison); ↑ higher is better, ↓ lower is "
            f"better. {MISSING} = not available for that model."
            + (" Brackets: 95% bootstrap interval over test stars." if intervals else "")
            + "</p>"
        )
    return (
        '<div class="table-wrap"><table><thead><tr>'
        + "".join(head)
        + "</tr></thead><tbody>"
        + "".join(body)
        + "</tbody></table></div>"
        + legend
    )


def _difference_html(cell: Mapping[str, object] | None) -> tuple[str, str]:
    """(text, css class) of one paired difference: the verdict word only as computed, which
    says "ahead" or "behind" only where the paired interval excludes zero."""
    if not cell or not _is_number(cell.get("diff")):
        return MISSING, "missing"
    diff = float(cell["diff"])
    text = ("+" if diff > 0 else "") + escape(_format_value(diff))
    ci = cell.get("diff_ci")
    if ci:
        text += f'<br><span class="ci">[{escape(_format_value(ci[0]))}, '
        text += f"{escape(_format_value(ci[1]))}]</span>"
    verdict = str(cell.get("verdict") or "")
    css = {"ahead": "ahead", "behind": "behind"}.get(verdict, "unresolved")
    return f'{text}<br><span class="verdict">{escape(verdict)}</span>', css


def _paired_table(rows: Sequence[Mapping[str, object]], reference: str) -> str:
    columns = list(dict.fromkeys(key for row in rows for key in row if key != "model"))
    head = "<th>model</th>" + "".join(f"<th>{escape(c)}</th>" for c in columns)
    body = []
    for row in rows:
        cells = [f"<td>{escape(str(row.get('model')))}</td>"]
        for column in columns:
            text, css = _difference_html(row.get(column))  # type: ignore[arg-type]
            cells.append(f'<td class="{css}">{text}</td>')
        body.append("<tr>" + "".join(cells) + "</tr>")
    return (
        f"<p>{escape(reference)} minus each model, on the stars both score, with a paired "
        "bootstrap (the same resampled test stars for both). <b>ahead</b> / <b>behind</b> only "
        "where the 95% interval of the difference excludes zero; otherwise the data cannot "
        "tell the two apart (<i>not resolved</i>).</p>"
        '<div class="table-wrap"><table><thead><tr>'
        + head
        + "</tr></thead><tbody>"
        + "".join(body)
        + "</tbody></table></div>"
    )


def _section_id(index: int) -> str:
    return f"section-{index + 1}"


def render_report(
    title: str,
    comparison: list[dict[str, object]],
    sections: list[tuple[str, list[tuple[str, bytes]]]],
    notes: list[str],
    higher_is_better: dict[str, bool] | None = None,
    paired: list[dict[str, object]] | None = None,
    reference: str = "desa",
) -> str:
    """The science report as one self-contained HTML page.

    ``comparison`` rows hold ``model`` and metric columns (None shows as "–"), each a plain
    value or ``{"value", "ci": [low, high]}``; the best value of each column named in
    ``higher_is_better`` is highlighted. ``paired`` rows hold ``model`` and, per metric,
    ``{"diff", "diff_ci", "verdict"}`` of ``reference`` minus that model (desa.report.table).
    ``sections`` are (title, figures) with figures as (caption, PNG bytes), shown in the given
    order after the tables and notes.
    """
    directions = higher_is_better or {}
    nav = "".join(
        f'<a href="#{_section_id(i)}">{escape(name)}</a>' for i, (name, _) in enumerate(sections)
    )
    parts = [
        _HEAD,
        f"<title>{escape(title)}</title>\n<style>{_BASE_CSS}{_REPORT_CSS}</style>\n</head>\n<body>",
        f"<header><h1>{escape(title)}</h1>",
        '<nav><a href="#comparison">Model comparison</a>' + nav + "</nav></header>",
        '<main><section id="comparison"><h2>Model comparison</h2>',
        _comparison_table(comparison, directions),
        "</section>",
    ]
    if paired:
        parts += [
            f'<section id="paired"><h2>{escape(reference)} against each model</h2>',
            _paired_table(paired, reference),
            "</section>",
        ]
    if notes:
        items = "".join(f"<li>{escape(note)}</li>" for note in notes)
        parts.append(f'<section class="notes"><h2>Notes</h2><ul>{items}</ul></section>')
    for i, (name, figures) in enumerate(sections):
        parts.append(f'<section id="{_section_id(i)}"><h2>{escape(name)}</h2>')
        if not figures:
            parts.append('<p class="empty">No figures for this section.</p>')
        else:
            parts.append('<div class="figures">')
            for caption, png in figures:
                parts.append(
                    f'<figure><img src="{png_data_uri(png)}" alt="{escape(caption)}">'
                    f"<figcaption>{escape(caption)}</figcaption></figure>"
                )
            parts.append("</div>")
        parts.append("</section>")
    parts.append("</main>\n</body>\n</html>\n")
    return "\n".join(parts)


def _json_for_script(data: object) -> str:
    """JSON safe inside a <script> element: no "</script>", "<!--" or "]]>" can form."""
    text = json.dumps(data, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _explorer_point(point: Mapping[str, object]) -> dict[str, object]:
    def number(key: str) -> float | None:
        value = point.get(key)
        return float(value) if _is_number(value) else None

    cmd_class = point.get("cmd_class")
    return {
        "kic": int(point["kic"]),
        "x": number("x"),
        "y": number("y"),
        "teff": number("teff"),
        "logg": number("logg"),
        "cmd_class": None if cmd_class is None else str(cmd_class),
        "prot": number("prot"),
    }


def render_explorer(
    points: list[dict[str, object]],
    neighbors: dict[int, list[int]],
    title: str = "DESA embedding explorer",
) -> str:
    """An interactive page for the UMAP of the embedding, self-contained (inline JS, no CDN).

    ``points`` carry kic, x, y, teff, logg, cmd_class and prot (any but kic may be None);
    ``neighbors`` maps a KIC to its nearest neighbours in the embedding, nearest first.
    Hovering shows a star's labels; searching a KIC highlights it and its neighbours.
    """
    data = {
        "points": [_explorer_point(p) for p in points],
        "neighbors": {str(int(k)): [int(n) for n in v] for k, v in neighbors.items()},
    }
    return "\n".join(
        [
            _HEAD,
            f"<title>{escape(title)}</title>\n<style>{_BASE_CSS}{_EXPLORER_CSS}</style>",
            "</head>\n<body>",
            f"<header><h1>{escape(title)}</h1>",
            f"<p>{len(points):,} stars in the UMAP of the DESA embedding. Hover a point for "
            "its labels; search or click a star to see its nearest neighbours.</p></header>",
            "<main>",
            '<section><div id="plot-wrap"><canvas id="plot" aria-label="UMAP scatter"></canvas>',
            '<div id="tooltip" role="tooltip"></div></div><div id="legend"></div></section>',
            "<section><h2>Find a star</h2>",
            '<form id="search-form" autocomplete="off">',
            '<input id="kic-search" type="search" inputmode="numeric" placeholder="KIC number"'
            ' aria-label="KIC number">',
            '<button type="submit">Search</button></form>',
            '<p class="hint">Neighbours are the nearest stars in the full embedding, '
            "not in this 2-D projection.</p>",
            '<div id="search-result" aria-live="polite"></div></section>',
            "</main>",
            f'<script type="application/json" id="explorer-data">{_json_for_script(data)}</script>',
            f"<script>{_EXPLORER_JS}</script>",
            "</body>\n</html>\n",
        ]
    )


# The explorer's behaviour. Kept as one plain script (no modules, no libraries) so the page works
# from file:// and in any browser without a build step.
_EXPLORER_JS = r"""
"use strict";
(function () {
  const data = JSON.parse(document.getElementById("explorer-data").textContent);
  const points = data.points;
  const neighbors = data.neighbors;
  const byKic = new Map(points.map((p) => [String(p.kic), p]));
  const plotted = points.filter((p) => p.x !== null && p.y !== null);

  const palette = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9",
                   "#F0E442", "#000000"];
  const unknownColor = "#b8bec7";
  const classes = [...new Set(points.map((p) => p.cmd_class).filter((c) => c !== null))].sort();
  const colorOf = (c) => (c === null ? unknownColor : palette[classes.indexOf(c) % palette.length]);

  const canvas = document.getElementById("plot");
  const ctx = canvas.getContext("2d");
  const tooltip = document.getElementById("tooltip");
  const result = document.getElementById("search-result");
  const input = document.getElementById("kic-search");
  const margin = 28;
  let selected = null;
  let highlighted = new Set();
  let screen = new Map();

  const xs = plotted.map((p) => p.x);
  const ys = plotted.map((p) => p.y);
  const xmin = Math.min(...xs), xmax = Math.max(...xs);
  const ymin = Math.min(...ys), ymax = Math.max(...ys);

  function project(p, w, h) {
    const sx = xmax > xmin ? (p.x - xmin) / (xmax - xmin) : 0.5;
    const sy = ymax > ymin ? (p.y - ymin) / (ymax - ymin) : 0.5;
    return [margin + sx * (w - 2 * margin), h - margin - sy * (h - 2 * margin)];
  }

  function dot(x, y, r, fill, alpha) {
    ctx.globalAlpha = alpha;
    ctx.fillStyle = fill;
    ctx.beginPath();
    ctx.arc(x, y, r, 0, 2 * Math.PI);
    ctx.fill();
  }

  function ring(x, y, r, stroke, width) {
    ctx.globalAlpha = 1;
    ctx.strokeStyle = stroke;
    ctx.lineWidth = width;
    ctx.beginPath();
    ctx.arc(x, y, r, 0, 2 * Math.PI);
    ctx.stroke();
  }

  function draw() {
    // Size the backing store to the device pixel ratio so points stay sharp.
    const ratio = window.devicePixelRatio || 1;
    const w = canvas.clientWidth, h = canvas.clientHeight;
    canvas.width = Math.round(w * ratio);
    canvas.height = Math.round(h * ratio);
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    ctx.clearRect(0, 0, w, h);
    if (plotted.length === 0) {
      ctx.fillStyle = "#8a919c";
      ctx.font = "16px system-ui, sans-serif";
      ctx.textAlign = "center";
      ctx.fillText("no data", w / 2, h / 2);
      return;
    }
    const radius = plotted.length > 5000 ? 1.8 : plotted.length > 500 ? 2.6 : 4;
    const focus = selected !== null;
    screen = new Map(plotted.map((p) => [p, project(p, w, h)]));
    for (const p of plotted) {
      const [x, y] = screen.get(p);
      dot(x, y, radius, colorOf(p.cmd_class), focus ? 0.18 : 0.85);
    }
    if (!focus) return;
    const centre = screen.get(selected);
    for (const kic of highlighted) {
      const p = byKic.get(kic);
      if (!p || !screen.has(p)) continue;
      const [x, y] = screen.get(p);
      if (centre) {
        ctx.globalAlpha = 0.5;
        ctx.strokeStyle = "#1d2330";
        ctx.lineWidth = 1;
        ctx.beginPath();
        ctx.moveTo(centre[0], centre[1]);
        ctx.lineTo(x, y);
        ctx.stroke();
      }
      dot(x, y, radius + 1.5, colorOf(p.cmd_class), 1);
      ring(x, y, radius + 3.5, "#1d2330", 1.5);
    }
    if (centre) {
      dot(centre[0], centre[1], radius + 3, "#d62728", 1);
      ring(centre[0], centre[1], radius + 7, "#d62728", 2);
    }
    ctx.globalAlpha = 1;
  }

  function fmt(value, digits, unit) {
    return value === null ? "–" : value.toFixed(digits) + (unit || "");
  }

  function describe(p) {
    return [
      ["KIC", String(p.kic)],
      ["Teff", fmt(p.teff, 0, " K")],
      ["log g", fmt(p.logg, 2)],
      ["class", p.cmd_class === null ? "–" : p.cmd_class],
      ["period", fmt(p.prot, 2, " d")],
    ];
  }

  function nearestTo(mx, my) {
    let best = null, bestDistance = 10 * 10;
    for (const [p, [x, y]] of screen) {
      const d = (x - mx) ** 2 + (y - my) ** 2;
      if (d < bestDistance) { best = p; bestDistance = d; }
    }
    return best;
  }

  function element(tag, text, className) {
    const node = document.createElement(tag);
    if (text !== undefined) node.textContent = text;
    if (className) node.className = className;
    return node;
  }

  function showStar(kicText) {
    const kic = kicText.trim();
    result.replaceChildren();
    const star = byKic.get(kic);
    if (!star) {
      selected = null;
      highlighted = new Set();
      draw();
      const message = kic === "" ? "Enter a KIC number." : "KIC " + kic +
        " is not in this embedding.";
      const node = element("p", message, "message");
      node.id = "search-message";
      node.setAttribute("role", "alert");
      result.append(node);
      return;
    }
    selected = star;
    const list = neighbors[kic] || [];
    highlighted = new Set(list.map(String));
    draw();
    const facts = element("dl");
    for (const [name, value] of describe(star)) {
      facts.append(element("dt", name), element("dd", value));
    }
    result.append(facts, element("h3", "Nearest neighbours (" + list.length + ")"));
    if (list.length === 0) {
      result.append(element("p", "No neighbours recorded for this star.", "muted"));
      return;
    }
    const ol = element("ol");
    ol.id = "neighbor-list";
    for (const n of list) {
      const li = element("li");
      const other = byKic.get(String(n));
      if (other) {
        const link = element("a", "KIC " + n);
        link.href = "#";
        link.dataset.kic = String(n);
        link.addEventListener("click", (event) => {
          event.preventDefault();
          input.value = String(n);
          showStar(String(n));
        });
        const detail = " · " + (other.cmd_class === null ? "–" : other.cmd_class) +
          " · " + fmt(other.teff, 0, " K");
        li.append(link, element("span", detail, "muted"));
      } else {
        li.append(element("span", "KIC " + n), element("span", " · not plotted", "muted"));
      }
      li.dataset.kic = String(n);
      ol.append(li);
    }
    result.append(ol);
  }

  canvas.addEventListener("mousemove", (event) => {
    const box = canvas.getBoundingClientRect();
    const p = nearestTo(event.clientX - box.left, event.clientY - box.top);
    if (!p) { tooltip.style.display = "none"; return; }
    tooltip.replaceChildren(...describe(p).map(([name, value]) =>
      element("div", name + ": " + value)));
    const [x, y] = screen.get(p);
    tooltip.style.display = "block";
    // Keep the tooltip inside the plot: flip it left of the cursor near the right edge.
    const width = tooltip.offsetWidth;
    const left = x + 14 + width > canvas.clientWidth ? x - 14 - width : x + 14;
    tooltip.style.left = left + "px";
    tooltip.style.top = Math.max(0, y - tooltip.offsetHeight / 2) + "px";
  });
  canvas.addEventListener("mouseleave", () => { tooltip.style.display = "none"; });
  canvas.addEventListener("click", (event) => {
    const box = canvas.getBoundingClientRect();
    const p = nearestTo(event.clientX - box.left, event.clientY - box.top);
    if (p) { input.value = String(p.kic); showStar(String(p.kic)); }
  });
  document.getElementById("search-form").addEventListener("submit", (event) => {
    event.preventDefault();
    showStar(input.value);
  });

  const legend = document.getElementById("legend");
  const entries = classes.slice();
  if (points.some((p) => p.cmd_class === null)) entries.push(null);
  for (const c of entries) {
    const item = element("span", c === null ? "unknown" : c);
    const swatch = element("span", undefined, "swatch");
    swatch.style.background = colorOf(c);
    item.prepend(swatch);
    legend.append(item);
  }

  window.addEventListener("resize", draw);
  draw();
})();
"""


# ------------------------------------------------------------------ APOGEE (paper Table 1)

_APOGEE_SOURCES = {"encoder": "spectra encoder", "lamost": "LAMOST pipeline (LASP)"}


def _apogee_rows(scores: Mapping[str, object]) -> list[dict[str, object]]:
    """One row per source overall, then per source and S/N bin: n and MAE per label."""
    parts: list[tuple[str, Mapping[str, object]]] = [("all S/N", scores["overall"])]
    for bin_ in scores["snr_bins"]:
        high = "∞" if bin_["snr_high"] is None else f"{bin_['snr_high']:g}"
        parts.append((f"S/N {bin_['snr_low']:g}–{high}", bin_))
    rows = []
    for where, values in parts:
        for source, name in _APOGEE_SOURCES.items():
            row: dict[str, object] = {"model": f"{name}, {where}"}
            for label, unit in (("teff", "K"), ("logg", "dex"), ("feh", "dex")):
                row[f"{label} n"] = values[f"{label}_n"]
                row[f"{label} MAE ({unit})"] = values[f"{source}_{label}_mae"]
            rows.append(row)
    return rows


def apogee_section(scores: Mapping[str, object] | None) -> str:
    """The report's APOGEE table (``metrics.json`` key ``apogee``): MAE against APOGEE DR17 of
    the spectra encoder and of LAMOST's own pipeline on the same test spectra."""
    head = '<section id="apogee"><h2>Spectra encoder against APOGEE DR17</h2>'
    if not scores or "overall" not in scores:
        reason = (scores or {}).get("note", "no APOGEE scores")
        return head + f'<p class="empty">{escape(str(reason))}</p></section>'
    intro = (
        f"<p>{scores['n']} test spectra matched to a usable APOGEE star (no duplicate row, no "
        f"STAR_BAD fit, Teff &lt; {scores['teff_max_k']:g} K). Each label's two MAEs use the "
        "same spectra; S/N is LAMOST's g band.</p>"
    )
    return head + intro + _comparison_table(_apogee_rows(scores), {}) + "</section>"


def with_section(page: str, section: str) -> str:
    """``page`` (from ``render_report``) with ``section`` appended at the end of its main."""
    return page.replace("</main>", section + "\n</main>", 1)
