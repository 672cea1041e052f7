"""docker/: the coachd image, the compose stack and its configuration.

No Docker engine runs where the tests run, so nothing here builds an image or
starts a container. Instead the Dockerfiles, compose.yaml and the files they
use are read and checked against coachd itself: its command line, its
configuration loader (as `coachd check-config` runs it), its default database
path, its HTTP API (the image's health check is run against it) and the
sandbox's Asterisk configuration the compose PBX is built from.
"""

import asyncio
import json
import os
import re
import shlex
import stat
import subprocess
import sys
import tomllib
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from aiohttp import web

from coachd.__main__ import build_parser
from coachd.app import spool_path
from coachd.config import Config, load_config
from coachd.config_checks import MASK
from coachd.core.registry import Registry
from coachd.http.api import PUBLIC, Api
from coachd.http.feed import EventFeed
from coachd.storage.store import default_sqlite_path

ROOT = Path(__file__).resolve().parents[2]
DOCKER = ROOT / "docker"
COACHD_DOCKERFILE = DOCKER / "Dockerfile"
ASTERISK_DOCKERFILE = DOCKER / "asterisk" / "Dockerfile"
COMPOSE_FILE = DOCKER / "compose.yaml"
DOCKER_CONFIG = DOCKER / "coachd.toml"
SANDBOX_CONFIG = ROOT / "sandbox" / "coachd.toml"
SECRETS_DIR = PurePosixPath("/run/secrets")

Instruction = tuple[str, str]


# --- Dockerfiles ---------------------------------------------------------------------


def instructions(path: Path) -> list[Instruction]:
    """``(KEYWORD, arguments)`` per instruction: continuations joined, comments dropped."""
    result: list[Instruction] = []
    pending = ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if line.startswith("#") or (not line and not pending):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        pending += line
        keyword, _, rest = pending.partition(" ")
        result.append((keyword.upper(), rest.strip()))
        pending = ""
    assert not pending, f"{path}: dangling line continuation"
    return result


def stages(path: Path) -> list[tuple[str, str | None, list[Instruction]]]:
    """``(image, stage name, instructions)`` per ``FROM``."""
    result: list[tuple[str, str | None, list[Instruction]]] = []
    for keyword, args in instructions(path):
        if keyword == "FROM":
            words = args.split()
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else None
            result.append((words[0], name, []))
        else:
            assert result, f"{path}: {keyword} before FROM"
            result[-1][2].append((keyword, args))
    return result


def final_stage(path: Path) -> list[Instruction]:
    return stages(path)[-1][2]


def the(stage: list[Instruction], keyword: str) -> str:
    """The arguments of the one ``keyword`` instruction in ``stage``."""
    found = [args for kw, args in stage if kw == keyword]
    assert len(found) == 1, f"expected one {keyword}, found {len(found)}"
    return found[0]


def exec_form(args: str) -> list[str]:
    value = json.loads(args)
    assert isinstance(value, list), f"not the exec (JSON array) form: {args}"
    assert all(isinstance(word, str) for word in value)
    return value


def env_of(stage: list[Instruction]) -> dict[str, str]:
    env: dict[str, str] = {}
    for keyword, args in stage:
        if keyword == "ENV":
            for word in shlex.split(args):
                name, sep, value = word.partition("=")
                assert sep, f"ENV without '=': {word}"
                env[name] = value
    return env


def shell_commands(stage: list[Instruction]) -> list[list[str]]:
    """Every simple command of the stage's RUN instructions, split into words."""
    commands: list[list[str]] = []
    for keyword, args in stage:
        if keyword == "RUN":
            for part in re.split(r"&&|;", args):
                words = shlex.split(part)
                if words:
                    commands.append(words)
    return commands


def command(stage: list[Instruction], *prefix: str) -> list[str]:
    """The one RUN command starting with ``prefix`` (after variable assignments)."""
    found = []
    for words in shell_commands(stage):
        while words and re.fullmatch(r"[A-Z_]+=\S*", words[0]):
            words = words[1:]
        if tuple(words[: len(prefix)]) == prefix:
            found.append(words)
    assert len(found) == 1, f"expected one {' '.join(prefix)} command, found {found}"
    return found[0]


def option(words: list[str], name: str) -> str:
    return words[words.index(name) + 1]


def healthcheck(path: Path) -> list[str]:
    args = the(final_stage(path), "HEALTHCHECK")
    match = re.fullmatch(r"(?:--\S+\s+)*CMD\s+(.*)", args)
    assert match, f"HEALTHCHECK without CMD: {args}"
    return exec_form(match.group(1))


def copies(path: Path) -> list[tuple[str, str]]:
    """``(source in the build context, destination)`` of the final stage's COPYs."""
    result = []
    for keyword, args in final_stage(path):
        if keyword == "COPY" and not args.startswith("--from"):
            source, destination = args.split()
            result.append((source.rstrip("/"), destination.rstrip("/")))
    return result


ENTRYPOINT = exec_form(the(final_stage(COACHD_DOCKERFILE), "ENTRYPOINT"))
VENV = PurePosixPath(ENTRYPOINT[0]).parents[1]
CONFIG_IN_IMAGE = ENTRYPOINT[ENTRYPOINT.index("--config") + 1]


# --- compose.yaml --------------------------------------------------------------------


def compose() -> dict[str, Any]:
    data = yaml.safe_load(COMPOSE_FILE.read_text())
    assert isinstance(data, dict)
    return data


def service(name: str) -> dict[str, Any]:
    services = compose()["services"]
    assert name in services, f"compose.yaml has no service {name!r}"
    value = services[name]
    assert isinstance(value, dict)
    return value


def environment(svc: dict[str, Any]) -> dict[str, str]:
    env = svc.get("environment", {})
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {str(k): str(v) for k, v in env.items()}


def mounts(svc: dict[str, Any]) -> dict[str, tuple[str, str]]:
    """Volume short syntax: container path -> (source, mode)."""
    result = {}
    for entry in svc.get("volumes", []):
        source, target, *mode = entry.split(":")
        result[target] = (source, mode[0] if mode else "rw")
    return result


def service_secrets(svc: dict[str, Any]) -> dict[PurePosixPath, Path]:
    """Where each of the service's secrets appears in its container -> the host file."""
    declared = compose()["secrets"]
    result = {}
    for entry in svc.get("secrets", []):
        if isinstance(entry, str):
            source, target = entry, entry
        else:
            source, target = entry["source"], entry.get("target", entry["source"])
        assert source in declared, f"secret {source!r} is not declared at the top level"
        result[SECRETS_DIR / target] = (COMPOSE_FILE.parent / declared[source]["file"]).resolve()
    return result


def published(svc: dict[str, Any]) -> list[tuple[str, int, int]]:
    """``(host address, host port, container port)`` of the service's ports."""
    result = []
    for entry in svc.get("ports", []):
        host, host_port, container_port = str(entry).split(":")
        result.append((host, int(host_port), int(container_port.split("/")[0])))
    return result


def build_dockerfile(svc: dict[str, Any]) -> Path:
    build = svc["build"]
    return (COMPOSE_FILE.parent / build["context"] / build["dockerfile"]).resolve()


# --- coachd's view of docker/coachd.toml ---------------------------------------------


def credentials(tmp_path: Path) -> Path:
    """The coachd container's $CREDENTIALS_DIRECTORY, as compose fills it."""
    coachd = service("coachd")
    directory = PurePosixPath(environment(coachd)["CREDENTIALS_DIRECTORY"])
    out = tmp_path / "credentials"
    out.mkdir()
    for target, source in service_secrets(coachd).items():
        assert target.parent == directory, f"secret {target} is outside {directory}"
        (out / target.name).write_bytes(source.read_bytes())
    return out


def docker_config(tmp_path: Path) -> Config:
    return load_config(DOCKER_CONFIG, {"CREDENTIALS_DIRECTORY": str(credentials(tmp_path))})


def check_config(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    base = {
        k: v
        for k, v in os.environ.items()
        if not k.upper().startswith("COACHD_") and k != "CREDENTIALS_DIRECTORY"
    }
    return subprocess.run(
        [sys.executable, "-m", "coachd", "check-config", "--config", str(DOCKER_CONFIG)],
        cwd=ROOT,
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


# --- the compose PBX's Asterisk configuration ----------------------------------------


def pbx_dir_in_image() -> str:
    (destination,) = {dst for src, dst in copies(ASTERISK_DOCKERFILE) if src == "sandbox/pbx"}
    return destination


def in_repo(image_path: str) -> Path | None:
    """The repository file the asterisk image has at ``image_path`` (last COPY wins)."""
    found = None
    for source, destination in copies(ASTERISK_DOCKERFILE):
        if image_path.startswith(destination + "/"):
            candidate = ROOT / source / image_path[len(destination) + 1 :]
            if candidate.is_file():
                found = candidate
    if found is None and image_path.startswith(pbx_dir_in_image() + "/"):
        # The Dockerfile's RUN adds sandbox/common's files the instance lacks.
        shared = ROOT / "sandbox" / "common" / image_path.rsplit("/", 1)[1]
        found = shared if shared.is_file() else None
    return found


def pbx_conf(name: str) -> Path:
    path = in_repo(f"{pbx_dir_in_image()}/{name}")
    assert path is not None, f"the asterisk image has no {name}"
    return path


def asterisk_conf(path: Path) -> dict[str, dict[str, str]]:
    sections: dict[str, dict[str, str]] = {}
    current: dict[str, str] | None = None
    for raw in path.read_text().splitlines():
        line = raw.split(";", 1)[0].strip()
        if not line or line.startswith("#"):
            continue
        header = re.fullmatch(r"\[([^\]]+)\].*", line)
        if header:
            current = sections.setdefault(header.group(1), {})
            continue
        key, sep, value = line.partition("=")
        if sep and current is not None:
            current[key.strip()] = value.lstrip(">").strip()
    return sections


def mosquitto_conf() -> dict[str, str]:
    source, _mode = mounts(service("mosquitto"))["/mosquitto/config/mosquitto.conf"]
    result = {}
    for raw in (COMPOSE_FILE.parent / source).read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if line:
            key, _, value = line.partition(" ")
            result[key] = value.strip()
    return result


# --- .dockerignore -------------------------------------------------------------------


def _glob(pattern: str) -> re.Pattern[str]:
    regex, i = "", 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            regex, i = regex + "(?:.*/)?", i + 3
        elif pattern.startswith("**", i):
            regex, i = regex + ".*", i + 2
        elif pattern[i] == "*":
            regex, i = regex + "[^/]*", i + 1
        elif pattern[i] == "?":
            regex, i = regex + "[^/]", i + 1
        else:
            regex, i = regex + re.escape(pattern[i]), i + 1
    return re.compile(regex)


def ignored(dockerfile: Path, path: str) -> bool:
    """Docker's rule: the last pattern matching the path or a parent decides."""
    patterns = [
        line.strip()
        for line in dockerfile.with_name(dockerfile.name + ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    parts = path.split("/")
    prefixes = ["/".join(parts[:n]) for n in range(1, len(parts) + 1)]
    result = False
    for pattern in patterns:
        regex = _glob(pattern.removeprefix("!").strip("/"))
        if any(regex.fullmatch(prefix) for prefix in prefixes):
            result = not pattern.startswith("!")
    return result


# === the coachd image ================================================================


def test_coachd_image_builds_a_wheel_and_runs_it_from_a_venv_on_slim_python_3_11() -> None:
    all_stages = stages(COACHD_DOCKERFILE)
    assert len(all_stages) >= 2
    assert {image for image, _, _ in all_stages} == {"python:3.11-slim-bookworm"}
    _, build_name, build = all_stages[0]
    assert build_name is not None
    copied = " ".join(args for kw, args in build if kw == "COPY")
    assert "pyproject.toml" in copied
    assert "coachd/" in copied
    wheel = command(build, "python", "-m", "pip", "wheel")
    assert wheel[-1] == "."
    wheel_dir = option(wheel, "--wheel-dir")
    assert command(build, "python", "-m", "venv") == ["python", "-m", "venv", str(VENV)]
    install = command(build, f"{VENV}/bin/pip", "install")
    assert install[2:] == [f"{wheel_dir}/coachd-*.whl"]
    runtime = final_stage(COACHD_DOCKERFILE)
    assert ("COPY", f"--from={build_name} {VENV} {VENV}") in runtime
    assert not any(kw == "COPY" and not a.startswith("--from") for kw, a in runtime)


def test_entrypoint_is_coachd_run_with_a_config_path_the_cli_accepts() -> None:
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert PurePosixPath(ENTRYPOINT[0]) == VENV / "bin" / "coachd"
    assert "coachd" in scripts
    args = build_parser().parse_args(ENTRYPOINT[1:])
    assert args.command == "run"
    assert args.config == Path("/etc/coachd/coachd.toml")
    assert args.config.is_absolute()


def test_compose_mounts_docker_coachd_toml_read_only_at_the_entrypoint_config_path() -> None:
    coachd = service("coachd")
    assert "entrypoint" not in coachd
    assert "command" not in coachd
    source, mode = mounts(coachd)[CONFIG_IN_IMAGE]
    assert (COMPOSE_FILE.parent / source).resolve() == DOCKER_CONFIG
    assert mode == "ro"


def test_coachd_image_runs_as_a_non_root_user_who_owns_the_state_directory() -> None:
    runtime = final_stage(COACHD_DOCKERFILE)
    uid, _, gid = the(runtime, "USER").partition(":")
    assert uid.isdigit(), "a numeric USER lets runtimes check it is not root"
    assert int(uid) != 0
    useradd = command(runtime, "useradd")
    groupadd = command(runtime, "groupadd")
    assert option(useradd, "--uid") == uid
    assert option(groupadd, "--gid") == gid
    user, group = useradd[-1], groupadd[-1]
    assert option(useradd, "--gid") == group
    state = env_of(runtime)["STATE_DIRECTORY"]
    owned = [
        words
        for words in shell_commands(runtime)
        if words[:2] == ["install", "-d"] and words[-1] == state
    ]
    assert len(owned) == 1
    assert option(owned[0], "-o") == user
    assert option(owned[0], "-g") == group
    assert service("coachd").get("user", uid) in (uid, f"{uid}:{gid}")


def test_state_directory_env_puts_the_coaching_log_and_its_spool_on_the_volume(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    runtime = final_stage(COACHD_DOCKERFILE)
    state = env_of(runtime)["STATE_DIRECTORY"]
    assert state in exec_form(the(runtime, "VOLUME"))
    source, mode = mounts(service("coachd"))[state]
    assert source in compose()["volumes"], "the state directory is a named volume"
    assert mode == "rw"
    config = docker_config(tmp_path)
    assert config.database.spool is None
    monkeypatch.delenv("XDG_STATE_HOME", raising=False)
    monkeypatch.setenv("STATE_DIRECTORY", state)
    assert default_sqlite_path() == Path(state) / "coachd.db"
    assert spool_path(config).parent == Path(state)


def test_healthcheck_asks_healthz_with_python_on_the_port_coachd_listens_on(
    tmp_path: Path,
) -> None:
    check = healthcheck(COACHD_DOCKERFILE)
    assert PurePosixPath(check[0]) == VENV / "bin" / "python", "no curl in the slim image"
    assert check[1] == "-c"
    (url,) = re.findall(r"https?://[^'\"\s]+", check[2])
    parts = urlsplit(url)
    config = docker_config(tmp_path)
    assert config.http.address is not None, "the health check needs [http] listen"
    host, port = config.http.address
    assert parts.port == port
    assert parts.hostname == "127.0.0.1"
    assert host in ("0.0.0.0", "127.0.0.1")
    assert parts.path in PUBLIC, "the health check has no token"
    exposed = the(final_stage(COACHD_DOCKERFILE), "EXPOSE").split()
    assert str(port) in exposed


async def _exit_code(code: str) -> int:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        code,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    return await asyncio.wait_for(proc.wait(), timeout=30)


async def test_healthcheck_passes_against_coachd_api_and_fails_when_it_is_down_or_refuses(
    tmp_path: Path,
) -> None:
    config = docker_config(tmp_path)
    engine: Any = type("Engine", (), {"registry": Registry()})()
    api = Api(config=config, engine=engine, feed=EventFeed(config.instance), ready=lambda: False)
    assert config.http.address is not None
    check = healthcheck(COACHD_DOCKERFILE)[2]
    original = f"127.0.0.1:{config.http.address[1]}"
    assert check.count(original) == 1
    runner = web.AppRunner(api.app())
    await runner.setup()
    try:
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        code = check.replace(original, f"127.0.0.1:{runner.addresses[0][1]}")
        assert await _exit_code(code) == 0
        # A route that needs a token answers 401: the check must fail on that.
        assert await _exit_code(code.replace("/healthz", "/v1/sessions")) != 0
    finally:
        await runner.cleanup()
    assert await _exit_code(code) != 0


# === docker/coachd.toml ==============================================================


def test_docker_config_passes_check_config_with_the_compose_secrets(tmp_path: Path) -> None:
    result = check_config({"CREDENTIALS_DIRECTORY": str(credentials(tmp_path))})
    assert result.returncode == 0, result.stderr
    shown = json.loads(result.stdout)
    assert shown["ari"]["password"] == MASK
    assert shown["database"]["url"].startswith(f"mysql://coachd:{MASK}@mariadb:")
    for source in service_secrets(service("coachd")).values():
        secret = source.read_text().strip()
        assert secret not in result.stdout


def test_docker_config_is_refused_without_the_ari_password_secret() -> None:
    result = check_config({})
    assert result.returncode == 1
    assert "ari.password" in result.stderr


def test_docker_config_is_the_sandbox_config_with_compose_hosts_and_secrets(
    tmp_path: Path,
) -> None:
    sandbox = load_config(SANDBOX_CONFIG, {})
    docker = docker_config(tmp_path)
    assert docker.ari.password == sandbox.ari.password
    assert docker.ari.username == sandbox.ari.username
    assert docker.ari.app == sandbox.ari.app
    assert docker.ari.endpoint_technologies == sandbox.ari.endpoint_technologies
    assert docker.supervisors == sandbox.supervisors
    assert docker.tokens == sandbox.tokens
    assert docker.policy == sandbox.policy
    assert docker.daemon == sandbox.daemon
    assert docker.logging.format == sandbox.logging.format
    assert urlsplit(docker.ari.url).hostname == "asterisk"
    assert docker.mqtt.url is not None
    assert urlsplit(docker.mqtt.url).hostname == "mosquitto"
    assert docker.database.url is not None
    assert urlsplit(docker.database.url).hostname == "mariadb"


def test_ari_url_names_the_asterisk_service_on_the_port_its_http_conf_opens(
    tmp_path: Path,
) -> None:
    config = docker_config(tmp_path)
    url = urlsplit(config.ari.url)
    assert build_dockerfile(service(str(url.hostname))) == ASTERISK_DOCKERFILE
    http = asterisk_conf(pbx_conf("http.conf"))["general"]
    assert http["enabled"] == "yes"
    assert int(http["bindport"]) == url.port
    assert not http["bindaddr"].startswith("127."), "coachd is in another container"


def test_ari_user_of_the_config_may_write_in_the_asterisk_image(tmp_path: Path) -> None:
    config = docker_config(tmp_path)
    ari = asterisk_conf(pbx_conf("ari.conf"))
    assert ari["general"]["enabled"] == "yes"
    user = ari[config.ari.username]
    assert user["type"] == "user"
    assert user["read_only"] == "no"
    assert user["password_format"] == "plain"
    assert user["password"] == config.ari.password


def test_dialplan_in_the_asterisk_image_sends_calls_to_the_configured_stasis_app(
    tmp_path: Path,
) -> None:
    config = docker_config(tmp_path)
    includes = re.findall(r'^#include\s+"([^"]+)"', pbx_conf("extensions.conf").read_text(), re.M)
    dialplans = [in_repo(path) for path in includes]
    assert ROOT / "dialplan" / "extensions_coachd.conf" in dialplans
    apps = set(
        re.findall(r"Stasis\(([^,)]+)", (ROOT / "dialplan/extensions_coachd.conf").read_text())
    )
    assert apps == {config.ari.app}


def test_mqtt_url_names_the_mosquitto_service_on_its_listener_port(tmp_path: Path) -> None:
    config = docker_config(tmp_path)
    assert config.mqtt.url is not None
    url = urlsplit(config.mqtt.url)
    assert service(str(url.hostname))["image"] == "eclipse-mosquitto:2"
    broker = mosquitto_conf()
    assert int(broker["listener"].split()[0]) == url.port
    if config.mqtt.username is None:
        assert broker["allow_anonymous"] == "true"


def test_database_url_is_the_mariadb_services_user_password_and_database(
    tmp_path: Path,
) -> None:
    config = docker_config(tmp_path)
    assert config.database.url is not None
    url = urlsplit(config.database.url)
    mariadb = service(str(url.hostname))
    assert mariadb["image"] == "mariadb:11"
    env = environment(mariadb)
    assert (url.port or 3306) == 3306, "the mariadb image listens on 3306"
    assert url.username == env["MARIADB_USER"]
    assert url.path == "/" + env["MARIADB_DATABASE"]
    password_file = service_secrets(mariadb)[PurePosixPath(env["MARIADB_PASSWORD_FILE"])]
    assert url.password == password_file.read_text().strip()


def test_http_api_listens_on_every_interface_and_is_published_on_host_loopback_only(
    tmp_path: Path,
) -> None:
    config = docker_config(tmp_path)
    assert config.http.address is not None
    host, port = config.http.address
    assert host == "0.0.0.0", "docker's port forwarding reaches the container's eth0"
    assert port in [container for _, _, container in published(service("coachd"))]
    for name in compose()["services"]:
        for address, _, _ in published(service(name)):
            assert address == "127.0.0.1", f"{name}: sandbox secrets, loopback only"


# === compose.yaml ====================================================================


def test_compose_has_the_four_services_with_their_images_and_dockerfiles() -> None:
    assert set(compose()["services"]) == {"asterisk", "mosquitto", "mariadb", "coachd"}
    assert build_dockerfile(service("coachd")) == COACHD_DOCKERFILE
    assert build_dockerfile(service("asterisk")) == ASTERISK_DOCKERFILE
    assert service("mosquitto")["image"] == "eclipse-mosquitto:2"
    assert service("mariadb")["image"] == "mariadb:11"


def test_coachd_waits_for_healthy_asterisk_and_mariadb_and_they_have_health_checks() -> None:
    services = compose()["services"]
    depends = service("coachd")["depends_on"]
    assert depends["mariadb"]["condition"] == "service_healthy", "coachd exits without it"
    assert depends["asterisk"]["condition"] == "service_healthy"
    for name, dependency in depends.items():
        assert name in services
        if dependency["condition"] == "service_healthy":
            svc = service(name)
            has_check = "test" in svc.get("healthcheck", {}) or (
                "build" in svc
                and any(kw == "HEALTHCHECK" for kw, _ in final_stage(build_dockerfile(svc)))
            )
            assert has_check, f"{name} has no health check to wait for"


def test_every_secret_a_service_uses_exists_and_the_container_user_can_read_it() -> None:
    used = 0
    for name in compose()["services"]:
        for target, source in service_secrets(service(name)).items():
            assert target.is_absolute()
            assert source.read_text().strip(), f"{source} is empty"
            # compose bind-mounts file secrets as they are; coachd is uid 10001.
            assert source.stat().st_mode & stat.S_IROTH, f"{source} is not world-readable"
            used += 1
    assert used >= 3


def test_coachd_stop_grace_period_exceeds_its_shutdown_timeout(tmp_path: Path) -> None:
    grace = service("coachd")["stop_grace_period"]
    assert re.fullmatch(r"\d+s", grace)
    assert int(grace[:-1]) > docker_config(tmp_path).daemon.shutdown_timeout


# === the asterisk image ==============================================================


def test_asterisk_image_installs_the_sandbox_packages_from_debian_sid() -> None:
    ((image, _, stage),) = stages(ASTERISK_DOCKERFILE)
    assert image.startswith("debian:sid")
    install = command(stage, "apt-get", "install")
    sandbox_script = (ROOT / "scripts" / "sandbox").read_text()
    packages = re.search(r"^PACKAGES=\(([^)]*)\)", sandbox_script, re.M)
    assert packages is not None
    assert [w for w in install[2:] if not w.startswith("-")] == packages.group(1).split()


def test_asterisk_image_runs_the_pbx_config_the_sandbox_lays_out() -> None:
    pbx = pbx_dir_in_image()
    sources = [src for src, dst in copies(ASTERISK_DOCKERFILE) if dst == pbx]
    assert sources == ["sandbox/pbx", "docker/asterisk/pbx"], "the overlay must come last"
    entrypoint = exec_form(the(final_stage(ASTERISK_DOCKERFILE), "ENTRYPOINT"))
    assert option(entrypoint, "-C") == f"{pbx}/asterisk.conf"
    assert "-f" in entrypoint, "in the foreground: the container's main process"
    check = healthcheck(ASTERISK_DOCKERFILE)
    assert option(check, "-C") == f"{pbx}/asterisk.conf"
    directories = asterisk_conf(pbx_conf("asterisk.conf"))["directories"]
    assert directories["astetcdir"] == pbx
    the_user = the(final_stage(ASTERISK_DOCKERFILE), "USER")
    assert the_user not in ("root", "0")


def test_asterisk_image_has_every_file_its_config_includes() -> None:
    names = [
        "asterisk.conf",
        "modules.conf",
        "extensions.conf",
        "http.conf",
        "ari.conf",
        "pjsip.conf",
        "logger.conf",
        "rtp.conf",
    ]
    included = 0
    for name in names:
        text = pbx_conf(name).read_text()
        for path in re.findall(r'^#include\s+"?([^"\s]+)"?', text, re.M):
            assert in_repo(path) is not None, f"{name} includes {path}, not in the image"
            included += 1
    assert included >= 2


def test_no_dockerfile_names_a_package_mirror_host() -> None:
    for dockerfile in (COACHD_DOCKERFILE, ASTERISK_DOCKERFILE):
        text = dockerfile.read_text()
        hosts = set(re.findall(r"[a-z][a-z0-9+.-]*://([^/:'\"\s]+)", text))
        assert hosts <= {"127.0.0.1"}, f"{dockerfile.name} names {hosts}"
        assert "sources.list" not in text


# === build contexts ==================================================================


@pytest.mark.parametrize(
    "dockerfile", [COACHD_DOCKERFILE, ASTERISK_DOCKERFILE], ids=lambda p: p.parent.name
)
def test_dockerignore_sends_what_the_dockerfile_copies_and_leaves_out_the_rest(
    dockerfile: Path,
) -> None:
    sources = [
        args.split()[:-1]
        for stage in stages(dockerfile)
        for kw, args in stage[2]
        if kw == "COPY" and not args.startswith("--from")
    ]
    files = 0
    for source in (s.rstrip("/") for group in sources for s in group):
        path = ROOT / source
        assert path.exists(), f"COPY {source}: not in the repository"
        for file in [path] if path.is_file() else sorted(path.rglob("*")):
            relative = file.relative_to(ROOT).as_posix()
            if file.is_file() and "__pycache__" not in relative:
                assert not ignored(dockerfile, relative), f"{relative} is not sent"
                files += 1
    assert files >= 3
    for unwanted in (
        ".venv/bin/python",
        ".sandbox/root/etc/passwd",
        ".git/config",
        "tests/unit/test_docker.py",
        "coachd/__pycache__/config.cpython-311.pyc",
    ):
        assert ignored(dockerfile, unwanted), f"{unwanted} would be sent"
