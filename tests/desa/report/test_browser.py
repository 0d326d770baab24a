"""The report and the explorer in a real browser: headless Debian Chromium driven by Playwright.

Screenshots go to ``$DESA_TEST_OUTPUTS/screenshots`` (default ``<repo>/.test-outputs``) so a
person can look at what the pages render.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from desa.report import figures
from desa.report.html import render_explorer, render_report

CLASSES = ("main sequence", "subgiant", "red giant", None)


def _sky(n: int = 240) -> tuple[np.ndarray, list[object]]:
    """Three blobs in a 2-D projection, one class per blob, a few stars unclassified."""
    rng = np.random.default_rng(5)
    centres = np.array([[0.0, 0.0], [4.0, 1.5], [1.5, 5.0]])
    which = rng.integers(0, 3, n)
    xy = centres[which] + rng.normal(0, 0.7, (n, 2))
    classes = [CLASSES[3] if i % 17 == 0 else CLASSES[w] for i, w in enumerate(which)]
    return xy, classes


def _write_report(folder: Path) -> Path:
    xy, classes = _sky()
    rng = np.random.default_rng(1)
    truth = rng.uniform(0.5, 12, 40)
    median = truth + rng.normal(0, 1, 40)
    sections = [
        ("Embedding", [("UMAP by CMD class", figures.umap_scatter(xy, classes=classes))]),
        (
            "Binaries",
            [
                ("Precision–recall", figures.pr_curves({"DESA": ([0, 0.6, 1], [1, 0.9, 0.4])})),
                ("Confusion matrix", figures.confusion_matrix_plot([[80, 6], [9, 25]])),
            ],
        ),
        ("Ages", [("Calibrated ages", figures.age_scatter(truth, median, median - 1, median + 1))]),
    ]
    page = render_report(
        "DESA science report",
        comparison=[
            {"model": "DESA", "binary AP": 0.83, "age MAE [Gyr]": 1.1, "stars": 1200},
            {"model": "MoCo", "binary AP": 0.76, "age MAE [Gyr]": 1.4, "stars": 1200},
            {"model": "VICReg", "binary AP": None, "age MAE [Gyr]": 1.3, "stars": 1180},
        ],
        sections=sections,
        notes=["Demo profile: synthetic sky, numbers are not comparable to the paper."],
        higher_is_better={"binary AP": True, "age MAE [Gyr]": False},
    )
    path = folder / "report.html"
    path.write_text(page, encoding="utf-8")
    return path


def _write_explorer(folder: Path) -> tuple[Path, list[dict[str, object]], dict[int, list[int]]]:
    xy, classes = _sky()
    rng = np.random.default_rng(2)
    points: list[dict[str, object]] = [
        {
            "kic": 1_000_000 + i,
            "x": float(x),
            "y": float(y),
            "teff": float(rng.uniform(4000, 6500)),
            "logg": float(rng.uniform(2.5, 4.6)),
            "cmd_class": c,
            "prot": None if i % 5 == 0 else float(rng.uniform(1, 40)),
        }
        for i, ((x, y), c) in enumerate(zip(xy, classes, strict=True))
    ]
    distances = np.linalg.norm(xy[:, None, :] - xy[None, :, :], axis=-1)
    neighbors = {
        1_000_000 + i: [1_000_000 + int(j) for j in np.argsort(row)[1:6]]
        for i, row in enumerate(distances)
    }
    path = folder / "explorer.html"
    path.write_text(render_explorer(points, neighbors, "DESA embedding explorer"), "utf-8")
    return path, points, neighbors


def test_report_renders_without_errors(open_page, screenshots: Path, tmp_path: Path) -> None:
    page, errors = open_page(_write_report(tmp_path))
    images = page.eval_on_selector_all("img", "imgs => imgs.map(i => [i.complete, i.naturalWidth])")
    assert len(images) == 4
    assert all(complete and width > 0 for complete, width in images)
    assert page.locator("td.best").count() == 2
    page.screenshot(path=screenshots / "report.png", full_page=True)
    assert errors == []


def test_explorer_search_hover_and_unknown_kic(
    open_page, screenshots: Path, tmp_path: Path
) -> None:
    path, points, neighbors = _write_explorer(tmp_path)
    page, errors = open_page(path)
    assert page.locator("img").count() == 0

    # The leftmost star sits on the plot's left margin; hovering it shows its tooltip.
    box = page.locator("#plot").bounding_box()
    assert box is not None
    ys = [p["y"] for p in points]
    left = min(points, key=lambda p: p["x"])
    margin = 28
    fraction = (left["y"] - min(ys)) / (max(ys) - min(ys))
    height = box["height"] - 2 * margin
    page.mouse.move(box["x"] + margin, box["y"] + box["height"] - margin - fraction * height)
    tooltip = page.locator("#tooltip")
    assert tooltip.is_visible()
    assert f"KIC: {left['kic']}" in tooltip.inner_text()
    page.screenshot(path=screenshots / "explorer-hover.png")

    page.fill("#kic-search", "1000010")
    page.press("#kic-search", "Enter")
    listed = page.locator("#neighbor-list li").evaluate_all("lis => lis.map(l => l.dataset.kic)")
    assert [int(k) for k in listed] == neighbors[1_000_010]
    assert "KIC" in page.locator("#search-result dl").inner_text()
    page.mouse.move(0, 0)
    page.screenshot(path=screenshots / "explorer.png", full_page=True)

    page.fill("#kic-search", "42")
    page.press("#kic-search", "Enter")
    message = page.locator("#search-message")
    assert message.is_visible() and "KIC 42 is not in this embedding" in message.inner_text()
    assert page.locator("#neighbor-list").count() == 0
    page.screenshot(path=screenshots / "explorer-unknown-kic.png")
    assert errors == []
