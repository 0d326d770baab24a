"""Stage versions follow their code: a changed stage with an unchanged version fails here."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

from tests.support.stage_code import RECORD, code_hash, current_record

UPDATE = "python -m tests.support.stage_code"


def test_every_stage_version_follows_its_code() -> None:
    recorded = json.loads(RECORD.read_text())
    current = current_record()
    problems = []
    for name, now in current.items():
        was = recorded.get(name)
        if was is None:
            problems.append(f"{name}: not in the record")
        elif was["code"] != now["code"] and was["version"] == now["version"]:
            problems.append(
                f"{name}: its code changed and its version ({now['version']}) did not; if its "
                "outputs change, bump `version` in its StageDef"
            )
        elif was != now:
            problems.append(f"{name}: the record is out of date")
    problems += [f"{name}: recorded but no longer a stage" for name in recorded.keys() - current]
    assert not problems, "\n".join([*problems, f"then record the stages' code: {UPDATE}"])


def _module(tmp_path: Path, name: str, source: str) -> ModuleType:
    path = tmp_path / f"{name}.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


STAGE_SOURCE = '''
SCALE = {scale}


def helper(x):
    """{doc}"""
    return x * SCALE{extra}


body = lambda ctx: helper(ctx)
'''


def test_the_hash_follows_called_code_and_constants_but_not_docs_or_layout(
    tmp_path: Path,
) -> None:
    def hash_of(name: str, scale: int = 2, doc: str = "Twice.", extra: str = "") -> str:
        source = STAGE_SOURCE.format(scale=scale, doc=doc, extra=extra)
        module = _module(tmp_path, name, source)
        try:
            return code_hash(module.body, first_party=(name,))
        finally:
            del sys.modules[name]

    base = hash_of("stage_a")
    assert hash_of("stage_b", doc="Doubles x.") == base  # docstring
    assert hash_of("stage_c", extra="  # a comment") == base  # comment
    assert hash_of("stage_d", scale=3) != base  # a constant the helper reads
    assert hash_of("stage_e", extra=" + 1") != base  # the helper's code
