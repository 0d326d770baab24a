import json
import os
import signal
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
    with StageLock(FS, path, owner="third") as third:
        assert Path(path).exists()
    assert not Path(path).exists()
    assert third.taken_over_from == {}  # released by its holder: nobody was killed


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


def test_a_held_lock_is_one_line_saying_who_since_when_and_what_to_do(tmp_path: Path) -> None:
    path = str(tmp_path / "state" / "embed.lock")
    with (
        StageLock(FS, path, owner="embed (flow run 42)") as held,
        pytest.raises(LockHeld) as refused,
        StageLock(FS, path, owner="second"),
    ):
        pass
    message = str(refused.value)
    assert "\n" not in message
    assert message.startswith(f"{path} is locked: embed (flow run 42) (pid {os.getpid()} on ")
    assert f"has held it since {held.info['since']}; wait for that run to finish" in message
    assert "delete" not in message  # its process is alive here: never to be removed by hand


def test_a_lock_file_naming_another_host_is_taken_over_when_no_process_holds_it(
    tmp_path: Path,
) -> None:
    # e.g. a compose container recreated with a new host name: its kernel lock died with it
    path = tmp_path / "x.lock"
    holder = {"host": "elsewhere", "pid": 1, "owner": "rebuild", "since": "2026-01-01T00:00:00"}
    path.write_text(json.dumps(holder))
    with StageLock(FS, str(path), owner="new"):
        assert json.loads(path.read_text())["owner"] == "new"


HOLD = """
import sys, time
from fsspec.implementations.local import LocalFileSystem
from storage.lock import StageLock
with StageLock(LocalFileSystem(), sys.argv[1], owner="holder", run_id="run-7"):
    print("held", flush=True)
    time.sleep(60)
"""


def test_a_lock_of_a_killed_process_is_taken_over_and_a_live_one_is_not(tmp_path: Path) -> None:
    path = str(tmp_path / "state" / "pipeline.lock")
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])}
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, path], stdout=subprocess.PIPE, text=True, env=env
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(LockHeld, match=f"holder \\(pid {holder.pid} on "):
            StageLock(FS, path, owner="second").__enter__()
        with pytest.raises(LockHeld, match=f"holder \\(pid {holder.pid} on "):
            StageLock(FS, path).check_free()
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=10)
        assert Path(path).exists()  # the file stays behind; its kernel lock is gone
        left = Path(path).read_text()
        StageLock(FS, path).check_free()  # free, and the killed holder's record is kept
        assert Path(path).read_text() == left
        with StageLock(FS, path, owner="after") as after:
            assert json.loads(Path(path).read_text())["owner"] == "after"
        assert after.taken_over_from["pid"] == holder.pid
        assert after.taken_over_from["run_id"] == "run-7"
    finally:
        holder.kill()
        holder.wait()


def test_an_object_store_lock_of_another_host_says_how_to_clear_it() -> None:
    fs = fsspec.filesystem("memory")
    path = "/locks/x.lock"
    holder = {"host": "elsewhere", "pid": 1, "owner": "rebuild", "since": "2026-01-01T00:00:00"}
    fs.pipe_file(path, json.dumps(holder).encode())
    with pytest.raises(LockHeld) as refused, StageLock(fs, path, owner="new"):
        pass
    assert str(refused.value) == (
        f"{path} is locked: rebuild (pid 1 on elsewhere) has held it since 2026-01-01T00:00:00;"
        f" wait for that run to finish, or delete {path} if it is gone"
    )
    assert fs.exists(path)  # a holder on another host is never guessed dead
