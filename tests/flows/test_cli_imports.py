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
