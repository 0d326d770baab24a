"""Fixtures shared by every test module."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from bench.real_data import real_data_dir
from flows.env import apply_prefect_defaults

# Prefect state of the test run stays out of the user's home; set before flows import prefect.
os.environ["PREFECT_HOME"] = tempfile.mkdtemp(prefix="desa-test-prefect-")
os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
# Prefect logs the ephemeral server's shutdown at exit, after pytest closed its capture.
os.environ["PREFECT_LOGGING_LEVEL"] = "WARNING"
os.environ.pop("PREFECT_API_URL", None)
# Rich reads the width once, when the CLI's console is made at import: wide enough for tables.
os.environ["COLUMNS"] = "200"
# What the `desa` entry point does before prefect is imported (the rest of the defaults).
apply_prefect_defaults()
# Each xdist worker gets its share of the cores, before torch or numpy start their thread
# pools: two workers with a pool as large as the machine each ran torch 3-5x slower on the
# 2-core machine than with one thread each (spinning OpenMP threads; a conv net's training
# steps, 2026-12-06). The commands and Dask workers that tests start inherit it.
_WORKERS = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
if _WORKERS > 1:
    for _pool in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ.setdefault(_pool, str(max(1, (os.cpu_count() or 1) // _WORKERS)))

# Debian's chromium, installed by scripts/install-test-packages.sh.
CHROMIUM = Path("/usr/bin/chromium")
# The closed network refuses Chromium's background connections; Playwright gives every launch
# a fresh, empty profile (it stands for --user-data-dir).
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# Read at import: the autouse fixture below clears DESA_* variables before each test.
TEST_OUTPUTS = Path(
    os.environ.get("DESA_TEST_OUTPUTS", Path(__file__).resolve().parents[1] / ".test-outputs")
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The longest modules first, so that `make test`'s two workers (one module each at a
    time, in this order: `--no-loadscope-reorder`) do not end on one long module."""

    def seconds(item: pytest.Item) -> float:
        marker = item.get_closest_marker("slow")
        return marker.kwargs.get("seconds", 0) if marker else 0

    items.sort(key=lambda item: -seconds(item))  # stable: the rest keep their order


@pytest.fixture(autouse=True)
def _isolated_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests see default settings, whatever DESA_* variables the caller's shell has."""
    for name in list(os.environ):
        if name.startswith("DESA_") and name != "DESA_REAL_DATA":
            monkeypatch.delenv(name)


@pytest.fixture(scope="session")
def real_data() -> Path:
    """The real LAMOST/Kepler/catalog files, read in place; skip when the folder is missing."""
    path = real_data_dir()
    if not (path / "lamost").is_dir() or not (path / "kepler").is_dir():
        pytest.skip(f"real survey files not found at {path} (set DESA_REAL_DATA)")
    return path


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    """Headless Chromium; a skip would hide a broken set-up (`make test` installs it)."""
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} not found: run scripts/install-test-packages.sh (make test does)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def new_page(browser: Browser) -> Iterator[Callable[..., Page]]:
    """Pages of the session's browser, closed after the test whatever happened: a page left
    open keeps rendering (a live UI polls and redraws) and takes a core from the tests after."""
    pages: list[Page] = []

    def make(**options: object) -> Page:
        pages.append(browser.new_page(**options))
        return pages[-1]

    yield make
    for page in pages:
        page.close()


@pytest.fixture
def open_page(new_page: Callable[..., Page]) -> Callable[[Path], tuple[Page, list[str]]]:
    """Open a local HTML file; console errors and uncaught exceptions collect in the list."""

    def open_(path: Path) -> tuple[Page, list[str]]:
        page = new_page(viewport={"width": 1360, "height": 900})
        page.set_default_timeout(10_000)
        errors: list[str] = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(path.as_uri())
        page.wait_for_load_state("load")
        return page, errors

    return open_


@pytest.fixture(scope="session")
def screenshots() -> Path:
    """Where browser tests keep their screenshots, with the test outputs."""
    folder = TEST_OUTPUTS / "screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    return folder
