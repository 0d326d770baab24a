"""The report and the explorer are single self-contained pages that carry their data."""

from __future__ import annotations

import base64
import json
import re

from desa.report.html import render_explorer, render_report

PNG = b"\x89PNG\r\n\x1a\nnot-a-real-image"


def _report() -> str:
    return render_report(
        "DESA report <demo>",
        comparison=[
            {"model": "DESA", "accuracy": 0.91, "age MAE": 1.2, "n": 120},
            {"model": "MoCo", "accuracy": 0.85, "age MAE": None, "n": 120},
            {"model": "SimSiam", "accuracy": 0.88, "age MAE": 0.9, "n": 118},
        ],
        sections=[("Binaries", [("PR curves", PNG), ("Confusion", PNG)]), ("Ages", [])],
        notes=["Synthetic sky & demo profile."],
        higher_is_better={"accuracy": True, "age MAE": False},
    )


def test_report_is_self_contained() -> None:
    page = _report()
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*https?://""", page, re.IGNORECASE)
    assert "http://" not in page and "https://" not in page
    sources = re.findall(r'<img[^>]*\ssrc="([^"]*)"', page)
    assert len(sources) == 2
    for src in sources:
        assert src.startswith("data:image/png;base64,")
        assert base64.b64decode(src.split(",", 1)[1]) == PNG
    assert "<script" not in page and '<link rel="stylesheet"' not in page


def test_report_table_comes_first_and_marks_best_values() -> None:
    page = _report()
    assert page.index("<table") < page.index("<figure")
    assert re.search(r'<td class="best">0\.910</td>', page)  # accuracy: higher wins
    assert re.search(r'<td class="best">0\.900</td>', page)  # age MAE: lower wins
    assert '<td class="missing">–</td>' in page
    assert "best" not in re.findall(r"<td[^>]*>120</td>", page)[0]  # n has no direction
    assert "DESA report &lt;demo&gt;" in page and "Synthetic sky &amp; demo profile." in page


def test_report_without_data_still_renders() -> None:
    page = render_report("empty", comparison=[], sections=[], notes=[])
    assert "No models to compare." in page and "</html>" in page


def _embedded(page: str) -> dict:
    match = re.search(r'<script type="application/json" id="explorer-data">(.*?)</script>', page)
    assert match
    return json.loads(match.group(1))


def test_explorer_embeds_points_and_neighbours() -> None:
    points = [
        {"kic": 1, "x": 0.0, "y": 1.0, "teff": 5700.0, "logg": 4.4, "cmd_class": "MS", "prot": 25},
        {
            "kic": 2,
            "x": None,
            "y": None,
            "teff": None,
            "logg": None,
            "cmd_class": None,
            "prot": None,
        },
    ]
    page = render_explorer(points, {1: [2], 2: [1]}, title="Explorer")
    data = _embedded(page)
    assert data["points"][0] == {**points[0], "prot": 25.0}
    assert data["points"][1]["x"] is None
    assert data["neighbors"] == {"1": [2], "2": [1]}
    assert "http://" not in page and "https://" not in page
    assert "<script src" not in page


def test_explorer_escapes_closing_tags_in_data() -> None:
    points = [{"kic": 7, "x": 0, "y": 0, "cmd_class": "</script><b>x</b>"}]
    page = render_explorer(points, {})
    assert page.count("</script>") == 2  # the data block's and the code block's only
    assert _embedded(page)["points"][0]["cmd_class"] == "</script><b>x</b>"


def test_report_shows_intervals_and_says_ahead_only_when_resolved() -> None:
    page = render_report(
        "with intervals",
        comparison=[
            {"model": "desa", "AUC": {"value": 0.9, "ci": [0.8, 0.95]}},
            {"model": "moco", "AUC": {"value": 0.7, "ci": [0.6, 0.8]}},
            {"model": "vicreg", "AUC": {"value": None, "ci": None}},
        ],
        sections=[],
        notes=[],
        higher_is_better={"AUC": True},
        paired=[
            {"model": "moco", "AUC": {"diff": 0.2, "diff_ci": [0.05, 0.3], "verdict": "ahead"}},
            {
                "model": "simsiam",
                "AUC": {"diff": 0.05, "diff_ci": [-0.02, 0.1], "verdict": "not resolved"},
            },
            {"model": "vicreg", "AUC": None},
        ],
    )
    assert '<td class="best">0.900<br><span class="ci">[0.800, 0.950]</span></td>' in page
    assert "95% bootstrap interval" in page
    paired = page.split('id="paired"')[1]
    cells = re.findall(r'<td class="(ahead|unresolved|behind|missing)">(.*?)</td>', paired)
    assert cells[0] == (
        "ahead",
        '+0.200<br><span class="ci">[0.050, 0.300]</span><br><span class="verdict">ahead</span>',
    )
    assert cells[1][0] == "unresolved" and "ahead" not in cells[1][1]
    assert cells[2] == ("missing", "–")
