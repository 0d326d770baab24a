"""The setting names users may write; any other key in `desa.toml` or `DESA_` variable is a typo.

pydantic-settings ignores both silently (an unknown `DESA_` variable is never read; a nested
model drops unknown keys), so a misspelt setting would quietly keep its default. The names
come from the Settings models themselves, so a new field is valid the moment it exists.
"""

from __future__ import annotations

import difflib
import json
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

from pydantic import BaseModel

ENV_PREFIX = "DESA_"
ENV_DELIMITER = "__"  # Settings' env_nested_delimiter

# DESA_ variables that are not settings, each read elsewhere.
NOT_SETTINGS = frozenset(
    {
        "DESA_CONFIG",  # which desa.toml Settings reads (flows/settings.py)
        "DESA_FAILPOINT",  # a stage run that kills itself, for the fault tests (flows/failpoint.py)
        "DESA_REAL_DATA",  # the real survey files of tests and benchmarks (bench/real_data.py)
        "DESA_TEST_OUTPUTS",  # where tests leave screenshots (tests/conftest.py)
        # docker compose's own, substituted into docker-compose.yml from .env (.env.example)
        "DESA_REPORT_URL",
        "DESA_TRAINING_WORK_POOL",
    }
)

Key = tuple[str, ...]


class UnknownSetting(ValueError):
    """A key no Settings model has; the message names it and the closest valid one."""

    def __init__(self, source: str, key: str, suggestion: str | None) -> None:
        self.source = source
        self.key = key
        self.suggestion = suggestion
        hint = f"; did you mean {suggestion}?" if suggestion else ""
        super().__init__(f"{source}: unknown setting {key}{hint}")


@dataclass(frozen=True)
class SettingNames:
    """Every key a model accepts: leaves, sections (models) and open tables (dicts)."""

    leaves: frozenset[Key]
    sections: frozenset[Key]
    open_tables: frozenset[Key]  # any key below these is the user's own (cluster_kwargs)

    def known(self, key: Key) -> bool:
        if key in self.leaves or key in self.sections:
            return True
        return any(key[: len(table)] == table for table in self.open_tables)


def _model_in(annotation: Any) -> type[BaseModel] | None:
    """The model class in ``annotation`` (also inside ``Model | None``), if any."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        models = [m for m in map(_model_in, typing.get_args(annotation)) if m is not None]
        return models[0] if models else None
    return None


def _is_table(annotation: Any) -> bool:
    return annotation is dict or typing.get_origin(annotation) is dict


@cache
def setting_names(model: type[BaseModel]) -> SettingNames:
    leaves: set[Key] = set()
    sections: set[Key] = set()
    tables: set[Key] = set()

    def walk(cls: type[BaseModel], prefix: Key) -> None:
        for name, field in cls.model_fields.items():
            key = (*prefix, name)
            nested = _model_in(field.annotation)
            if nested is not None:
                sections.add(key)
                walk(nested, key)
            elif _is_table(field.annotation):
                tables.add(key)
            else:
                leaves.add(key)

    walk(model, ())
    return SettingNames(frozenset(leaves), frozenset(sections), frozenset(tables))


def _closest(name: str, candidates: list[str]) -> str | None:
    found = difflib.get_close_matches(name, candidates, n=1, cutoff=0.6)
    return found[0] if found else None


def _env_name(key: Key) -> str:
    return ENV_PREFIX + ENV_DELIMITER.join(key).upper()


def check_environment(environ: Mapping[str, str], model: type[BaseModel]) -> None:
    """Raise UnknownSetting for the first `DESA_` variable that names no setting."""
    names = setting_names(model)
    for variable in sorted(environ):
        upper = variable.upper()  # Settings reads the environment case-insensitively
        if not upper.startswith(ENV_PREFIX) or upper in NOT_SETTINGS:
            continue
        key = tuple(upper.removeprefix(ENV_PREFIX).lower().split(ENV_DELIMITER))
        if not names.known(key):
            valid = [_env_name(k) for k in names.leaves | names.sections]
            raise UnknownSetting("environment", variable, _closest(upper, valid))
        if key in names.sections:  # a whole section as JSON, e.g. DESA_FETCH='{"retries": 2}'
            section = _json_table(environ[variable])
            if section is not None:
                check_table(section, model, f"environment {variable}", prefix=key)


def _json_table(text: str) -> Mapping[str, Any] | None:
    try:
        value = json.loads(text)
    except ValueError:
        return None  # not JSON: Settings reports it
    return value if isinstance(value, Mapping) else None


def check_table(
    data: Mapping[str, Any], model: type[BaseModel], source: str, prefix: Key = ()
) -> None:
    """Raise UnknownSetting for the first key of ``data`` (nested tables too) that no model
    field has; ``source`` names the file in the message, ``prefix`` the section ``data`` is."""
    names = setting_names(model)
    dotted = [".".join(k) for k in names.leaves | names.sections]

    def walk(table: Mapping[str, Any], prefix: Key) -> None:
        for name, value in table.items():
            key = (*prefix, name)
            if not names.known(key):
                raise UnknownSetting(source, ".".join(key), _closest(".".join(key), dotted))
            if key in names.sections and isinstance(value, Mapping):
                walk(value, key)

    walk(data, prefix)
