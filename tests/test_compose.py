"""The production stack as files: docker-compose.yml, Dockerfile, .env.example (DESIGN.md §8).

No Docker engine runs on the build machines, so the compose file is checked by reading it, and
by `docker-compose config` (which validates offline) when a compose client is installed. Each
check returns a list of problems; the mutation tests at the end show that each one can fail.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tomllib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
COMPOSE_FILE = ROOT / "docker-compose.yml"
ENV_EXAMPLE = ROOT / ".env.example"
DOCKERFILE = ROOT / "Dockerfile"

Compose = dict[str, Any]

# The one command (or its essential words) each service must run; None: the image's default.
COMMANDS: dict[str, list[str] | None] = {
    "postgres": None,
    "redis": None,
    "prefect-server": ["prefect", "server", "start", "--host", "0.0.0.0", "--no-services"],
    "prefect-services": ["prefect", "server", "services", "start"],
    "desa": ["desa", "serve"],
    "dask-scheduler": ["dask", "scheduler", "--port", "8786"],
    "dask-worker": ["dask", "worker", "tcp://dask-scheduler:8786"],
    "reports": ["http.server", "8080", "--directory", "/data/report"],
    "gpu-worker": ["prefect", "worker", "start", "--pool", "gpu"],
}
HEALTHCHECKED = {"postgres", "redis", "prefect-server", "dask-scheduler"}
# Edges the start order needs (each on a healthy dependency).
REQUIRED_DEPENDENCIES = {
    "prefect-server": {"postgres"},
    "prefect-services": {"postgres", "prefect-server"},
    "desa": {"prefect-server", "dask-scheduler"},
    "dask-worker": {"dask-scheduler"},
    "gpu-worker": {"prefect-server"},
}
PREFECT_CLIENTS = {"desa", "dask-worker", "gpu-worker"}  # report runs to the server's API
PREFECT_SERVER_SIDE = {"prefect-server", "prefect-services"}  # share one database
DASK_PROCESSES = {"desa", "dask-scheduler", "dask-worker"}  # must share one environment
DATA_MOUNTS = {"desa": False, "dask-worker": False, "gpu-worker": False, "reports": True}
SECRET_KEY = re.compile(r"(AUTH_STRING|PASSWORD|TOKEN)$")
# A secret may only come from the env file: no default value to fall back on.
SECRET_VALUE = re.compile(r"^\$\{[A-Za-z_]\w*(?::?\?[^}]*|:?-)?\}$")
# ${VAR}, ${VAR:-default}, ${VAR:?message} and $VAR, but not the escaped $$.
VARIABLE = re.compile(r"(?<!\$)\$(?:\{([A-Za-z_]\w*)|([A-Za-z_]\w*))")
URL_CREDENTIALS = re.compile(r"://[^/:@\s]+:([^@\s]+)@")


def _load() -> Compose:
    return yaml.safe_load(COMPOSE_FILE.read_text())


@pytest.fixture(scope="module")
def compose() -> Compose:
    return _load()


def _pin(package: str) -> str:
    """The version pyproject.toml pins for a package."""
    dependencies = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    for requirement in dependencies:
        name, _, version = requirement.partition("==")
        if name.strip() == package:
            return version.strip()
    raise AssertionError(f"pyproject.toml does not pin {package}")


def _env_example_names() -> set[str]:
    names = set()
    for line in ENV_EXAMPLE.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            names.add(line.partition("=")[0].strip())
    return names


def _env(service: dict[str, Any]) -> dict[str, str]:
    environment = service.get("environment") or {}
    if isinstance(environment, list):
        return dict(item.partition("=")[::2] for item in environment)
    return {key: "" if value is None else str(value) for key, value in environment.items()}


def _command(service: dict[str, Any]) -> list[str] | None:
    command = service.get("command")
    return command.split() if isinstance(command, str) else command


def _dependencies(service: dict[str, Any]) -> dict[str, str | None]:
    depends_on = service.get("depends_on") or {}
    if isinstance(depends_on, list):  # short form: no condition at all
        return dict.fromkeys(depends_on)
    return {name: (spec or {}).get("condition") for name, spec in depends_on.items()}


def _mounts(service: dict[str, Any]) -> list[tuple[str, str, bool]]:
    """(source, target, read_only) of each volume, short or long syntax."""
    mounts = []
    for volume in service.get("volumes") or []:
        if isinstance(volume, str):
            source, target, *mode = volume.split(":")
            mounts.append((source, target, bool(mode) and "ro" in mode[0].split(",")))
        else:
            mounts.append((volume["source"], volume["target"], bool(volume.get("read_only"))))
    return mounts


def _strings(node: Any) -> Iterator[str]:
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for key, value in node.items():
            yield from _strings(key)
            yield from _strings(value)
    elif isinstance(node, list):
        for item in node:
            yield from _strings(item)


def _variables(compose: Compose) -> set[str]:
    return {a or b for text in _strings(compose) for a, b in VARIABLE.findall(text)}


# ---- the checks: each returns its problems -------------------------------------------------


def check_services(compose: Compose) -> list[str]:
    problems = []
    services = compose.get("services") or {}
    if missing := set(COMMANDS) - set(services):
        problems.append(f"services missing: {sorted(missing)}")
    if "version" in compose:
        problems.append("top-level `version:` is obsolete in the compose spec")
    for name, service in services.items():
        if not service.get("image") and not service.get("build"):
            problems.append(f"{name}: neither image nor build")
        expected = COMMANDS.get(name)
        command = _command(service)
        if expected is None:
            continue
        if not command:
            problems.append(f"{name}: no command (expected {' '.join(expected)})")
        elif missing_words := [word for word in expected if word not in command]:
            problems.append(f"{name}: command {command} lacks {missing_words}")
    return problems


def check_images(compose: Compose) -> list[str]:
    problems = []
    services = compose["services"]
    for name, service in services.items():
        image = service.get("image", "")
        if service.get("build"):
            continue  # built here, never pulled
        name_and_tag = image.rsplit("/", 1)[-1]  # a registry host may carry a port
        tag = name_and_tag.rpartition(":")[2] if ":" in name_and_tag else ""
        if "@sha256:" not in image and (not tag or tag.endswith("latest")):
            problems.append(f"{name}: pulled image {image!r} is not pinned to a tag")
    prefect = f"prefecthq/prefect:{_pin('prefect')}-python3.11"
    for name in PREFECT_SERVER_SIDE:
        if services.get(name, {}).get("image") != prefect:
            problems.append(f"{name}: image should be {prefect} (the pinned Prefect)")
    images = {services.get(name, {}).get("image") for name in DASK_PROCESSES}
    if len(images) != 1:
        problems.append(f"Dask client, scheduler and workers use different images: {images}")
    for name in DASK_PROCESSES | {"reports", "gpu-worker"}:
        variant = ((services.get(name, {}).get("build") or {}).get("args") or {}).get(
            "TORCH_VARIANT", ""
        )
        wanted = "cu" if name == "gpu-worker" else "cpu"
        if not variant.startswith(wanted):
            problems.append(f"{name}: build arg TORCH_VARIANT={variant!r}, expected {wanted}*")
    return problems


def check_environment(compose: Compose) -> list[str]:
    problems = []
    services = compose["services"]
    envs = {name: _env(service) for name, service in services.items()}

    def require(name: str, key: str, value: str | None = None) -> None:
        env = envs.get(name, {})
        if key not in env:
            problems.append(f"{name}: environment lacks {key}")
        elif value is not None and env[key] != value:
            problems.append(f"{name}: {key}={env[key]!r}, expected {value!r}")

    for name in PREFECT_CLIENTS:
        require(name, "PREFECT_API_URL", "http://prefect-server:4200/api")
        require(name, "PREFECT_API_AUTH_STRING")
        require(name, "DESA_DATA_ROOT", "/data")
    for name in PREFECT_SERVER_SIDE:
        require(name, "PREFECT_SERVER_DATABASE_CONNECTION_URL")
        require(name, "PREFECT_SERVER_API_AUTH_STRING")
        url = envs.get(name, {}).get("PREFECT_SERVER_DATABASE_CONNECTION_URL", "")
        if url and not (url.startswith("postgresql+asyncpg://") and "@postgres:5432/" in url):
            problems.append(f"{name}: database URL {url!r} is not asyncpg on postgres:5432")
    require("prefect-server", "PREFECT_UI_API_URL")
    require("prefect-server", "PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    require("prefect-services", "PREFECT_SERVER_SERVICES_DB_VACUUM_ENABLED")
    # The webserver and its services talk through the database and the broker: same settings.
    server, background = envs.get("prefect-server", {}), envs.get("prefect-services", {})
    shared = ("PREFECT_SERVER_DATABASE", "PREFECT_MESSAGING", "PREFECT_REDIS")
    shared += ("PREFECT_SERVER_DOCKET_URL", "PREFECT_SERVER_CONCURRENCY_LEASE_STORAGE")
    for key in sorted(set(server) | set(background)):
        if key.startswith(shared) and server.get(key) != background.get(key):
            problems.append(f"prefect-server and prefect-services disagree on {key}")
    for key in ("DESA_PROFILE", "DESA_SERVE__REPORT_URL", "DESA_TRAINING__WORK_POOL"):
        require("desa", key)
    require("desa", "LAMOST_TOKEN")
    require("desa", "DESA_DASK_ADDRESS", "tcp://dask-scheduler:8786")
    return problems


def check_healthchecks(compose: Compose) -> list[str]:
    problems = []
    services = compose["services"]
    for name in sorted(HEALTHCHECKED):
        check = services.get(name, {}).get("healthcheck") or {}
        if not check.get("test") or check.get("disable"):
            problems.append(f"{name}: no healthcheck")
    check = services.get("prefect-server", {}).get("healthcheck") or {}
    if "/api/health" not in " ".join(map(str, check.get("test") or [])):
        problems.append("prefect-server: healthcheck does not call /api/health")
    return problems


def check_dependencies(compose: Compose) -> list[str]:
    problems = []
    services = compose["services"]
    for name, service in services.items():
        dependencies = _dependencies(service)
        if missing := REQUIRED_DEPENDENCIES.get(name, set()) - set(dependencies):
            problems.append(f"{name}: depends_on lacks {sorted(missing)}")
        for dependency, condition in dependencies.items():
            if dependency not in services:
                problems.append(f"{name}: depends on unknown service {dependency}")
                continue
            healthchecked = bool((services[dependency].get("healthcheck") or {}).get("test"))
            if healthchecked and condition != "service_healthy":
                problems.append(
                    f"{name}: depends on {dependency} with condition {condition!r};"
                    " it has a healthcheck, so wait for service_healthy"
                )
            if condition == "service_healthy" and not healthchecked:
                problems.append(f"{name}: waits for {dependency} to be healthy; it has no check")
    return problems


def check_volumes(compose: Compose) -> list[str]:
    problems = []
    services = compose["services"]
    declared = set(compose.get("volumes") or {})
    if missing := {"postgres-data", "desa-data"} - declared:
        problems.append(f"named volumes not declared: {sorted(missing)}")
    if ("postgres-data", "/var/lib/postgresql/data", False) not in _mounts(
        services.get("postgres", {})
    ):
        problems.append("postgres: postgres-data is not mounted at /var/lib/postgresql/data")
    for name, read_only in DATA_MOUNTS.items():
        mounts = [m for m in _mounts(services.get(name, {})) if m[:2] == ("desa-data", "/data")]
        if not mounts:
            problems.append(f"{name}: desa-data is not mounted at /data")
        elif mounts[0][2] != read_only:
            problems.append(f"{name}: desa-data should be {'read-only' if read_only else 'rw'}")
    for name, service in services.items():
        for source, _, _ in _mounts(service):
            if not source.startswith((".", "/", "~")) and source not in declared:
                problems.append(f"{name}: volume {source} is not declared")
    return problems


def check_gpu(compose: Compose) -> list[str]:
    problems = []
    services = compose["services"]
    worker = services.get("gpu-worker", {})
    if "gpu" not in (worker.get("profiles") or []):
        problems.append("gpu-worker: not under the `gpu` profile")
    reservations = ((worker.get("deploy") or {}).get("resources") or {}).get("reservations")
    devices = (reservations or {}).get("devices") or []
    if not any(d.get("driver") == "nvidia" and "gpu" in d.get("capabilities", []) for d in devices):
        problems.append("gpu-worker: no nvidia device reservation with the gpu capability")
    for name, service in services.items():
        if name != "gpu-worker" and service.get("profiles"):
            problems.append(f"{name}: has profiles {service['profiles']}; it would not start")
    if "replicas" not in (services.get("dask-worker", {}).get("deploy") or {}):
        problems.append("dask-worker: deploy.replicas not set")
    return problems


def check_secrets(compose: Compose) -> list[str]:
    problems = []
    for name, service in compose["services"].items():
        for key, value in _env(service).items():
            if SECRET_KEY.search(key) and not SECRET_VALUE.match(value):
                problems.append(f"{name}: {key} is not a ${{...}} substitution without default")
            for password in URL_CREDENTIALS.findall(value):
                if not SECRET_VALUE.match(password):
                    problems.append(f"{name}: {key} has a literal password in its URL")
    return problems


def check_env_example(compose: Compose) -> list[str]:
    problems = []
    documented = _env_example_names()
    used = _variables(compose)
    if missing := used - documented:
        problems.append(f".env.example lacks {sorted(missing)}")
    if unused := documented - used:
        problems.append(f".env.example has variables the compose file does not use: {unused}")
    return problems


CHECKS: list[Callable[[Compose], list[str]]] = [
    check_services,
    check_images,
    check_environment,
    check_healthchecks,
    check_dependencies,
    check_volumes,
    check_gpu,
    check_secrets,
    check_env_example,
]


@pytest.mark.parametrize("check", CHECKS, ids=lambda check: check.__name__)
def test_compose_file(compose: Compose, check: Callable[[Compose], list[str]]) -> None:
    problems = check(compose)
    assert not problems, "docker-compose.yml:\n  " + "\n  ".join(problems)


# Each check must be able to fail: break the file one way and expect that check to say so.
def _set(path: str, value: Any) -> Callable[[Compose], None]:
    *parents, last = path.split(".")

    def mutate(compose: Compose) -> None:
        node = compose
        for part in parents:
            node = node[part]
        if value is None:
            del node[last]
        else:
            node[last] = value

    return mutate


MUTATIONS = [
    ("services.desa.command", "prefect version", check_services, "desa: command"),
    ("services.postgres.image", "postgres:latest", check_images, "not pinned"),
    ("services.prefect-server.image", "prefecthq/prefect:3-latest", check_images, "not pinned"),
    ("services.dask-worker.image", "other:1", check_images, "different images"),
    (
        "services.gpu-worker.environment.PREFECT_API_AUTH_STRING",
        None,
        check_environment,
        "gpu-worker: environment lacks PREFECT_API_AUTH_STRING",
    ),
    (
        "services.prefect-server.environment.PREFECT_UI_API_URL",
        None,
        check_environment,
        "lacks PREFECT_UI_API_URL",
    ),
    (
        "services.prefect-services.environment.PREFECT_MESSAGING_BROKER",
        "prefect.server.utilities.messaging.memory",
        check_environment,
        "disagree on PREFECT_MESSAGING_BROKER",
    ),
    ("services.dask-scheduler.healthcheck", None, check_healthchecks, "dask-scheduler"),
    ("services.dask-scheduler.healthcheck", None, check_dependencies, "has no check"),
    (
        "services.desa.depends_on.prefect-server",
        {"condition": "service_started"},
        check_dependencies,
        "wait for service_healthy",
    ),
    ("services.desa.depends_on", ["prefect-server", "dask-scheduler"], check_dependencies, "None"),
    ("services.reports.volumes", ["desa-data:/data"], check_volumes, "read-only"),
    ("services.dask-worker.volumes", None, check_volumes, "dask-worker: desa-data"),
    ("volumes.postgres-data", None, check_volumes, "not declared"),
    ("services.gpu-worker.profiles", None, check_gpu, "profile"),
    ("services.gpu-worker.deploy", None, check_gpu, "nvidia"),
    ("services.postgres.environment.POSTGRES_PASSWORD", "hunter2", check_secrets, "POSTGRES"),
    (
        "services.desa.environment.PREFECT_API_AUTH_STRING",
        "${PREFECT_AUTH_STRING:-admin:admin}",
        check_secrets,
        "without default",
    ),
    (
        "services.prefect-services.environment.PREFECT_SERVER_DATABASE_CONNECTION_URL",
        "postgresql+asyncpg://prefect:secret@postgres:5432/prefect",
        check_secrets,
        "literal password",
    ),
    ("services.desa.environment.DESA_NEW", "${DESA_UNDOCUMENTED}", check_env_example, "lacks"),
]


@pytest.mark.parametrize(
    ("path", "value", "check", "expected"),
    MUTATIONS,
    ids=[f"{m[2].__name__}:{m[0]}" for m in MUTATIONS],
)
def test_each_check_can_fail(
    path: str, value: Any, check: Callable[[Compose], list[str]], expected: str
) -> None:
    # A fresh load each time: YAML anchors may share nested objects between services.
    broken = _load()
    _set(path, value)(broken)
    problems = check(broken)
    assert any(expected in problem for problem in problems), (
        f"{check.__name__} did not notice {path} -> {value!r}: {problems}"
    )


# ---- the other files -----------------------------------------------------------------------


def test_env_file_is_git_ignored_and_example_is_not() -> None:
    if shutil.which("git") and (ROOT / ".git").exists():
        ignored = subprocess.run(
            ["git", "-C", str(ROOT), "check-ignore", "-q", ".env"], check=False
        ).returncode
        example = subprocess.run(
            ["git", "-C", str(ROOT), "check-ignore", "-q", ".env.example"], check=False
        ).returncode
        assert ignored == 0, ".env (the secrets) is not git-ignored"
        assert example == 1, ".env.example must be committed, but git ignores it"
    else:
        lines = {line.strip() for line in (ROOT / ".gitignore").read_text().splitlines()}
        assert lines & {".env", "/.env"}, ".gitignore does not list .env"


def test_dockerfile_pins_torch_and_its_variant() -> None:
    text = DOCKERFILE.read_text()
    torch = _pin("torch")
    assert re.search(r"^FROM python:3\.11-slim-bookworm\b", text, re.M), "base image changed"
    assert re.search(r"^ARG TORCH_VARIANT=cpu$", text, re.M), "no ARG TORCH_VARIANT=cpu"
    assert f"torch=={torch}" in text, f"Dockerfile does not install torch=={torch} (pyproject)"
    assert "https://download.pytorch.org/whl/${TORCH_VARIANT}" in text, (
        "torch is not installed from PyTorch's index for the chosen variant"
    )
    runs = re.findall(r"^RUN (.*)$", text, re.M)
    torch_step = next((i for i, run in enumerate(runs) if f"torch=={torch}" in run), None)
    project_step = next((i for i, run in enumerate(runs) if "pip install . " in f"{run} "), None)
    assert torch_step is not None and project_step is not None, f"RUN steps: {runs}"
    assert torch_step < project_step, (
        "torch must be installed before the project, or pip takes PyPI's build"
    )
    for package in ("desa", "catalogs", "storage", "flows"):
        assert re.search(rf"^COPY {package} ", text, re.M), f"Dockerfile does not copy {package}/"
    users = re.findall(r"^USER (\S+)", text, re.M)
    assert users and users[-1] not in {"root", "0"}, "the image must run as a non-root user"
    assert re.search(r'^CMD \["desa", "serve"\]', text, re.M), 'CMD is not ["desa", "serve"]'


def test_dockerignore_keeps_local_state_out() -> None:
    entries = {
        line.strip().strip("/") for line in (ROOT / ".dockerignore").read_text().splitlines()
    }
    for entry in (".git", ".venv", ".env", "data"):
        assert entry in entries, f".dockerignore does not exclude {entry}"


# ---- the compose client's own validation ---------------------------------------------------


def _compose_client() -> list[str] | None:
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    if shutil.which("docker"):
        version = subprocess.run(
            ["docker", "compose", "version"], capture_output=True, check=False, timeout=30
        )
        if version.returncode == 0:
            return ["docker", "compose"]
    return None


def test_compose_config_validates(tmp_path: Path) -> None:
    client = _compose_client()
    if client is None:
        pytest.skip("neither docker-compose nor `docker compose` is installed")
    shutil.copy(COMPOSE_FILE, tmp_path / "docker-compose.yml")
    # The caller's shell must not mask the example values (the shell wins over .env).
    env = {k: v for k, v in os.environ.items() if k not in _env_example_names()}
    env = {k: v for k, v in env.items() if not k.startswith("COMPOSE_")}
    command = [*client, "-f", "docker-compose.yml", "--profile", "gpu", "config"]

    def run() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            command,
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
        )

    # Without an env file the required secrets stop it.
    missing = run()
    assert missing.returncode != 0, "config passed without POSTGRES_PASSWORD/PREFECT_AUTH_STRING"
    assert "POSTGRES_PASSWORD" in missing.stderr or "PREFECT_AUTH_STRING" in missing.stderr, (
        missing.stderr
    )

    shutil.copy(ENV_EXAMPLE, tmp_path / ".env")
    result = run()
    assert result.returncode == 0, f"{' '.join(command)} failed:\n{result.stderr}"
    rendered = yaml.safe_load(result.stdout)
    assert set(COMMANDS) <= set(rendered["services"]), sorted(rendered["services"])
    server_env = _env(rendered["services"]["prefect-server"])
    assert server_env["PREFECT_SERVER_API_AUTH_STRING"] == "admin:change-me", (
        "the example auth string did not reach the server"
    )
