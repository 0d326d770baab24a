import pandas as pd

from storage.rows import allocate, by_shard, empty, record, runs


def _wanted(**inputs: str) -> pd.DataFrame:
    return pd.DataFrame({"key": list(inputs), "input": list(inputs.values())})


def test_new_keys_get_rows_in_key_order_and_keep_them() -> None:
    manifest, todo = allocate(empty(), _wanted(b="1", a="1"))
    assert list(manifest["key"]) == ["a", "b"] and list(manifest["row"]) == [0, 1]
    assert todo == ["a", "b"] and set(manifest["status"]) == {"pending"}
    done = record(manifest, pd.DataFrame({"key": ["a", "b"], "status": "ok", "reason": ""}))
    manifest, todo = allocate(done, _wanted(a="1", b="1", c="1"))
    assert todo == ["c"]
    assert manifest.set_index("key")["row"].to_dict() == {"a": 0, "b": 1, "c": 2}


def test_changed_input_and_interrupted_work_are_redone_in_place() -> None:
    manifest, _ = allocate(empty(), _wanted(a="1", b="1", c="1"))
    # Killed after 'a' was written: b and c are still pending.
    manifest = record(manifest, pd.DataFrame({"key": ["a"], "status": "ok", "reason": ""}))
    manifest, todo = allocate(manifest, _wanted(a="2", b="1", c="1"))
    assert todo == ["a", "b", "c"]
    assert list(manifest["row"]) == [0, 1, 2] and len(manifest) == 3


def test_failed_objects_with_unchanged_input_are_not_retried() -> None:
    manifest, _ = allocate(empty(), _wanted(a="1"))
    manifest = record(manifest, pd.DataFrame({"key": ["a"], "status": "failed", "reason": "x"}))
    _, todo = allocate(manifest, _wanted(a="1"))
    assert todo == []


def test_shards_and_runs() -> None:
    assert by_shard([5, 1, 9, 8, 2], 4) == {0: [1, 2], 1: [5], 2: [8, 9]}
    assert runs([1, 2, 3, 7, 9, 10]) == [slice(1, 4), slice(7, 8), slice(9, 11)]
