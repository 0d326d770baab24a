"""The CLI answers at once: importing it, listing the stages, `desa --help`, `desa status` and a
no-op `desa rebuild` import none of the heavy libraries, nor does computing every stage's
cache-key config (issue 13: torch alone costs seconds; pandas and pyarrow a third of a second of
`desa status`). `desa --help` does without numpy too."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from catalogs.labels.config import LABEL_CATALOGS
from flows.clients import load_settings
from flows.stage import StageContext, freshness, plan
from flows.stages import stages_for
from storage import layout
from storage.layout import DataRoot
from storage.state import StageState, write_state
from tests.support.paths import REPO_ROOT

# astropy and astroquery: about a second of `desa status` (issue 13 item 5); pandas with
# pyarrow about 0.3 s of `desa status` and a no-op `desa rebuild`
HEAVY = (
    "torch",
    "lightning",
    "umap",
    "sklearn",
    "scipy",
    "matplotlib",
    "prefect",
    "astropy",
    "astroquery",
    "pandas",
    "pyarrow",
    "zarr",
    "xarray",
    "dask",
)

PROBE = """
import json, sys
{code}
print(json.dumps(sorted(m for m in {heavy!r} if m in sys.modules)))
"""


def _heavy_imported(code: str, heavy: tuple[str, ...] = HEAVY) -> list[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    result = subprocess.run(
        [sys.executable, "-c", PROBE.format(code=code, heavy=heavy)],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize(
    "code",
    [
        "import flows.cli",
        "import flows.stages",
        "import flows.entry, contextlib, io\n"
        "sys.argv = ['desa', '--help']\n"
        "with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):\n"
        "    flows.entry.main()",
        # no server configured (the tests' PREFECT_HOME has no profiles file): no Prefect
        "import flows.entry, contextlib, io, os, tempfile\n"
        "os.environ['DESA_DATA_ROOT'] = tempfile.mkdtemp()\n"
        "sys.argv = ['desa', 'status']\n"
        "with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):\n"
        "    flows.entry.main()",
        # every stage's cache key config, as `desa status` and a no-op `desa rebuild` compute
        # it on a built data root: the model configs are torch-free (desa.models.configs)
        "from flows.settings import Settings\n"
        "from flows.stages import STAGES\n"
        "for profile in ('demo', 'paper'):\n"
        "    for stage in STAGES:\n"
        "        stage.config(Settings(profile=profile))",
    ],
    ids=[
        "import-cli",
        "import-stages",
        "desa-help",
        "desa-status",
        "stage-configs",
    ],
)
def test_nothing_heavy_is_imported(code: str) -> None:
    assert _heavy_imported(code) == []


def test_help_imports_no_numpy() -> None:
    """Every `desa` command checks the settings first: they, and `--help`, need no numpy."""
    code = (
        "import flows.entry, contextlib, io\n"
        "sys.argv = ['desa', '--help']\n"
        "with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):\n"
        "    flows.entry.main()"
    )
    assert _heavy_imported(code, ("numpy",)) == []


@pytest.fixture
def recorded_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A data root (DESA_DATA_ROOT) with an up-to-date state record for every stage, each with
    every output some stage reads and the catalogs the labels and evaluate stages may read:
    `desa status` and `desa rebuild` compute every stage's key in full, as on a built root."""
    monkeypatch.setenv("DESA_DATA_ROOT", str(tmp_path))
    settings = load_settings()
    root = DataRoot(settings.data_root)
    stages = stages_for(settings.profile)
    made: dict[str, dict[str, str]] = {stage.name: {} for stage in stages}
    for product in [p for stage in stages for p in stage.reads] + list(layout.APOGEE_INPUTS):
        made[product.stage][product.output] = f"fingerprint of {product.key}"
    made["catalogs"] |= {name: f"fingerprint of {name}" for name in LABEL_CATALOGS}
    for stage in stages:  # in order: a stage's key is made of its upstream records
        now = freshness(stage, StageContext(settings, root))
        record = StageState(
            stage=stage.name,
            key=now.key,
            version=stage.version,
            config=now.config,
            inputs=now.inputs,
            outputs=made[stage.name],
            paths={},
            started_at="",
            finished_at="",
            duration_s=0.0,
        )
        write_state(root.fs, root.state_path(stage.name), record)
    assert all(now.fresh for now in plan(stages, StageContext(settings, root)))
    return tmp_path


@pytest.mark.parametrize("command", ["status", "rebuild"])
def test_on_a_built_root_nothing_heavy_is_imported(recorded_root: Path, command: str) -> None:
    """`desa status` and the no-op `desa rebuild` (every stage up to date: no Prefect run)."""
    code = (
        "import flows.entry, contextlib, io\n"
        f"sys.argv = ['desa', '{command}']\n"
        "with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):\n"
        "    flows.entry.main()"
    )
    assert _heavy_imported(code) == []
