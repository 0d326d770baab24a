import json
import subprocess
import sys
from pathlib import Path

import fsspec
import pytest

from storage.lock import LockHeld, StageLock

FS = fsspec.filesystem("file")


def test_second_holder_is_refused_and_lock_released_after(tmp_path: Path) -> None:
    path = str(tmp_path / "state" / "catalogs.lock")
    held = StageLock(FS, path, owner="first")
    with held, pytest.raises(LockHeld, match="first"), StageLock(FS, path, owner="second"):
        pass
    with StageLock(FS, path, owner="third"):
        assert Path(path).exists()
    assert not Path(path).exists()


def test_lock_of_a_dead_process_is_taken_over(tmp_path: Path) -> None:
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    path = tmp_path / "x.lock"
    import socket

    path.write_text(json.dumps({"host": socket.gethostname(), "pid": int(dead.stdout)}))
    with StageLock(FS, str(path), owner="new"):
        assert json.loads(path.read_text())["owner"] == "new"
