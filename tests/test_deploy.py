"""Static checks of the deployment artefacts (docs/deployment.md): Dockerfile, .dockerignore,
deploy/docker-compose.yml, deploy/scalebot.service and deploy/k8s/. Nothing here needs Docker, a
cluster or systemd; hadolint, systemd-analyze, kubectl and docker compose lint further when they
are on PATH (skipped otherwise)."""

from __future__ import annotations

import configparser
import fnmatch
import os
import re
import shlex
import shutil
import subprocess
from pathlib import Path, PurePosixPath
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "k8s"
CONFIG_IN_POD = "/etc/scalebot/scalebot.yaml"
GRACE_S = 30
SECRET_ENV = {"SCALEBOT_REDIS_URL", "SCALEBOT_API_KEY", "SCALEBOT_API_SECRET"}


def _load(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def _docs(path: Path) -> list[Any]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d is not None]


def _interpolate(text: str) -> str:
    """Compose-style ``${VAR:-default}`` -> ``default`` (the value with no variable set)."""
    return re.sub(r"\$\{[A-Za-z_][A-Za-z0-9_]*:-([^}]*)\}", r"\1", text)


def _seconds(value: str | int) -> float:
    units = {"ms": 0.001, "s": 1, "m": 60, "min": 60, "h": 3600}
    if isinstance(value, int):
        return float(value)
    total = 0.0
    for number, unit in re.findall(r"(\d+(?:\.\d+)?)\s*(ms|min|s|m|h)?", str(value)):
        total += float(number) * units[unit or "s"]
    return total


# YAML: everything under deploy/ parses --------------------------------------------------------

@pytest.mark.parametrize("path", sorted(p.relative_to(ROOT).as_posix() for p in DEPLOY.rglob("*.y*ml")))
def test_every_yaml_file_under_deploy_parses(path: str) -> None:
    docs = _docs(ROOT / path)
    assert docs and all(isinstance(d, dict) for d in docs), f"{path}: expected one or more mappings"


# Dockerfile -------------------------------------------------------------------------------------

def _dockerfile() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    lines: list[tuple[str, str]] = []
    pending = ""
    for raw in (ROOT / "Dockerfile").read_text().splitlines():
        stripped = raw.strip()
        if stripped.startswith("#") or not stripped:
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        full = pending + stripped
        pending = ""
        word, _, rest = full.partition(" ")
        lines.append((word.upper(), rest.strip()))
    assert not pending, "Dockerfile ends inside a continued line"
    return lines


def _exec_form(args: str) -> list[str]:
    return yaml.safe_load(args) if args.startswith("[") else shlex.split(args)


def _dockerignored(rel: str) -> bool:
    """Docker's rule, enough for our .dockerignore: the last pattern that matches the path or one
    of its parent directories decides; ``!`` re-includes."""
    excluded = False
    parts = PurePosixPath(rel).parts
    for line in (ROOT / ".dockerignore").read_text().splitlines():
        pattern = line.strip()
        if not pattern or pattern.startswith("#"):
            continue
        negate = pattern.startswith("!")
        pattern = pattern.lstrip("!").rstrip("/")
        candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
        if pattern.startswith("**/"):
            tail = pattern[3:]
            hit = any(fnmatch.fnmatchcase(part, tail) for part in parts)
        else:
            hit = any(fnmatch.fnmatchcase(c, pattern) and c.count("/") == pattern.count("/") for c in candidates)
        if hit:
            excluded = not negate
    return excluded


def _in_repo(container_path: str) -> Path:
    """/app/config/X in the image is config/X of the repository (COPY config /app/config)."""
    assert container_path.startswith("/app/config/"), container_path
    return ROOT / "config" / container_path.removeprefix("/app/config/")


def test_dockerfile_is_multi_stage_and_runs_as_a_numeric_non_root_user() -> None:
    steps = _dockerfile()
    froms = [args for word, args in steps if word == "FROM"]
    assert len(froms) >= 2, "expected a build stage and a runtime stage"
    assert " AS " in froms[0].upper()
    assert len({f.split()[0] for f in froms}) == 1, "both stages need the same base (the venv links to its python)"
    users = [args for word, args in steps if word == "USER"]
    assert users, "no USER: the container would run as root"
    user = users[-1].split(":")[0]
    assert user.isdigit() and int(user) != 0, f"USER {users[-1]}: use a numeric non-root uid (k8s runAsNonRoot)"
    runtime = steps[max(i for i, (w, _) in enumerate(steps) if w == "FROM"):]
    assert any(w == "COPY" and a.startswith("--from=") for w, a in runtime), "runtime stage copies the built venv"


def test_dockerfile_installs_exactly_the_locked_versions() -> None:
    runs = " ".join(args for word, args in _dockerfile() if word == "RUN")
    assert re.search(r"pip install[^&;]*-r requirements\.lock", runs)
    assert re.search(r"pip install[^&;]*--no-deps \.", runs), "the project itself must not re-resolve dependencies"


def test_dockerfile_healthcheck_stopsignal_and_command() -> None:
    steps = dict(_dockerfile())
    health = steps["HEALTHCHECK"]
    assert re.search(r"CMD\s+\[\s*\"scalebot\",\s*\"health\"", health), health
    assert _seconds(re.search(r"--timeout=(\S+)", health).group(1)) >= 5, "health starts a Python process: ~2 s"
    assert steps["STOPSIGNAL"] == "SIGTERM"
    assert _exec_form(steps["ENTRYPOINT"]) == ["scalebot"], "exec form: scalebot is PID 1 and gets SIGTERM"
    cmd = _exec_form(steps["CMD"])
    assert cmd[0] == "run" and "--log-format" in cmd and cmd[cmd.index("--log-format") + 1] == "json"
    assert _in_repo(cmd[cmd.index("--config") + 1]).is_file()
    env = dict(re.findall(r"(\w+)=(\S+)", steps["ENV"]))
    assert env["SCALEBOT_CONFIG"] == cmd[cmd.index("--config") + 1], "the HEALTHCHECK reads $SCALEBOT_CONFIG"
    assert env["XDG_CACHE_HOME"].startswith("/tmp/"), "the ccxt markets cache needs a writable place"


def test_every_file_the_dockerfile_copies_exists_and_is_in_the_build_context() -> None:
    copies = [shlex.split(args) for word, args in _dockerfile() if word == "COPY"]
    sources = [src for parts in copies if not parts[0].startswith("--from=") for src in parts[:-1]]
    assert {"requirements.lock", "pyproject.toml", "bot", "config"} <= set(sources)
    for src in sources:
        assert (ROOT / src).exists(), f"COPY {src}: no such file in the repository"
        assert not _dockerignored(src), f"COPY {src}: excluded by .dockerignore"
    for needed in ("bot/cli.py", "bot/state/store.py", "config/paper.yaml", "README.md"):
        assert not _dockerignored(needed), f"{needed}: excluded by .dockerignore"
    for private in (".venv", ".git", "tests", "build", "bot/__pycache__/x.pyc"):
        assert _dockerignored(private), f"{private} should stay out of the build context"


def test_hadolint_if_available() -> None:
    hadolint = shutil.which("hadolint")
    if hadolint is None:
        pytest.skip("hadolint is not on PATH")
    result = subprocess.run([hadolint, "--failure-threshold", "warning", str(ROOT / "Dockerfile")],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stdout + result.stderr


# docker compose ---------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return _load(DEPLOY / "docker-compose.yml")


def _env(service: dict[str, Any]) -> dict[str, str | None]:
    env = service.get("environment", {})
    if isinstance(env, list):
        return {k: (v if sep else None) for k, sep, v in (item.partition("=") for item in env)}
    return dict(env)


def test_compose_redis_persists_with_aof_and_requires_a_password(compose: dict[str, Any]) -> None:
    redis = compose["services"]["redis"]
    command = " ".join(redis["command"]) if isinstance(redis["command"], list) else redis["command"]
    assert "--appendonly yes" in command and "--appendfsync" in command
    assert "--requirepass" in command
    assert "${REDIS_PASSWORD:?" in _env(redis)["REDIS_PASSWORD"], "no default password: refuse to start without one"
    volume = redis["volumes"][0].split(":")
    assert volume[1] == "/data" and volume[0] in compose["volumes"], "AOF on a named volume"
    check = " ".join(redis["healthcheck"]["test"])
    assert "redis-cli" in check and "REDISCLI_AUTH" in check, "the health check must authenticate"
    assert "ports" not in redis, "Redis is reachable from the compose network only"


def test_compose_bot_service(compose: dict[str, Any]) -> None:
    bot = compose["services"]["scalebot"]
    env = _env(bot)
    url = env["SCALEBOT_REDIS_URL"]
    assert url.startswith("redis://:${REDIS_PASSWORD") and url.endswith("@redis:6379/0"), url
    assert env["SCALEBOT_API_KEY"] is None and env["SCALEBOT_API_SECRET"] is None, "passed through, never inlined"
    assert bot["depends_on"]["redis"]["condition"] == "service_healthy"
    assert bot["depends_on"]["check-config"]["condition"] == "service_completed_successfully"
    assert bot["stop_signal"] == "SIGTERM" and _seconds(bot["stop_grace_period"]) >= GRACE_S
    assert bot["healthcheck"]["test"][1:3] == ["scalebot", "health"]
    assert bot["restart"] in {"unless-stopped", "always", "on-failure"}
    assert bot["read_only"] is True and "/tmp" in bot["tmpfs"]
    assert "../config:/app/config:ro" in bot["volumes"]
    assert (DEPLOY / bot["build"] / "Dockerfile").is_file()
    command = [_interpolate(c) for c in bot["command"]]
    assert command[:2] == ["run", "--config"] and _in_repo(command[2]).is_file()
    assert _interpolate(env["SCALEBOT_CONFIG"]) == command[2], "health reads $SCALEBOT_CONFIG"
    check = compose["services"]["check-config"]
    assert [_interpolate(c) for c in check["command"]] == ["check-config", command[2]]
    assert check["restart"] == "no"


def test_compose_metrics_port_is_documented_as_optional() -> None:
    text = (DEPLOY / "docker-compose.yml").read_text()
    assert re.search(r"#\s*-\s*\"127\.0\.0\.1:9108:9108\"", text) and "metrics.host: 0.0.0.0" in text


def test_docker_compose_config_if_available() -> None:
    docker = shutil.which("docker")
    if docker is None or subprocess.run([docker, "compose", "version"], capture_output=True).returncode != 0:
        pytest.skip("docker compose is not available")
    result = subprocess.run([docker, "compose", "-f", str(DEPLOY / "docker-compose.yml"), "config", "-q"],
                            capture_output=True, text=True, timeout=30, env={**os.environ, "REDIS_PASSWORD": "x"})
    assert result.returncode == 0, result.stderr


# systemd ----------------------------------------------------------------------------------------

UNIT = DEPLOY / "scalebot.service"


@pytest.fixture(scope="module")
def unit() -> configparser.ConfigParser:
    # strict: a key given twice is an error here (systemd would silently append or override).
    parser = configparser.ConfigParser(strict=True, interpolation=None, empty_lines_in_values=False)
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # keys are case-sensitive
    parser.read_string(UNIT.read_text(), source=str(UNIT))
    return parser


def test_unit_sections_and_command(unit: configparser.ConfigParser) -> None:
    assert unit.sections() == ["Unit", "Service", "Install"]
    service = unit["Service"]
    command = shlex.split(service["ExecStart"])
    assert command[0].endswith("/scalebot") and command[1] == "run"
    assert command[command.index("--config") + 1] == CONFIG_IN_POD
    assert command[command.index("--log-format") + 1] == "json"
    assert service["User"] and service["User"] != "root"
    assert unit["Install"]["WantedBy"] == "multi-user.target"


def test_unit_restart_stop_and_logging(unit: configparser.ConfigParser) -> None:
    service = unit["Service"]
    assert service["Restart"] == "on-failure"
    assert "2" in service["RestartPreventExitStatus"].split(), "bad config (exit 2): do not restart"
    assert service["KillSignal"] == "SIGTERM"
    assert _seconds(service["TimeoutStopSec"]) >= GRACE_S
    assert service["StandardOutput"] == "journal" and service["StandardError"] == "journal"
    assert service["EnvironmentFile"].lstrip("-").startswith("/etc/scalebot/")


def test_unit_hardening(unit: configparser.ConfigParser) -> None:
    service = unit["Service"]
    expected = {"NoNewPrivileges": "yes", "ProtectSystem": "strict", "ProtectHome": "yes", "PrivateTmp": "yes",
                "PrivateDevices": "yes", "CapabilityBoundingSet": ""}
    assert {k: service.get(k) for k in expected} == expected


def test_systemd_analyze_if_available(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not on PATH")
    # verify checks that ExecStart's binary exists: point it at one that does, check the rest.
    copy = tmp_path / UNIT.name
    copy.write_text(UNIT.read_text().replace("/opt/scalebot/bin/scalebot", "/bin/true"))
    verify = subprocess.run([analyze, "verify", str(copy)], capture_output=True, text=True, timeout=30)
    assert verify.returncode == 0 and not verify.stderr.strip(), verify.stderr
    security = subprocess.run([analyze, "security", "--offline=yes", "--threshold=20", str(copy)],
                              capture_output=True, text=True, timeout=30)
    if "--offline" in security.stderr:
        pytest.skip("systemd-analyze security has no --offline here (systemd < 250)")
    assert security.returncode == 0, "exposure above 2.0:\n" + security.stdout[-2000:]


# Kubernetes -------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def kustomization() -> dict[str, Any]:
    return _load(K8S / "kustomization.yaml")


def _deployments(kustomization: dict[str, Any]) -> list[dict[str, Any]]:
    docs = [d for r in kustomization["resources"] for d in _docs(K8S / r)]
    return [d for d in docs if d["kind"] == "Deployment"]


def _shard_configs(kustomization: dict[str, Any]) -> dict[str, Path]:
    """ConfigMap name -> the config file it is generated from (key scalebot.yaml)."""
    out = {}
    for gen in kustomization["configMapGenerator"]:
        (entry,) = gen["files"]
        key, _, file = entry.partition("=")
        assert key == "scalebot.yaml"
        out[gen["name"]] = K8S / file
    return out


def test_kustomization_lists_existing_files(kustomization: dict[str, Any]) -> None:
    for resource in kustomization["resources"]:
        assert (K8S / resource).is_file(), resource
    assert "secret.example.yaml" not in kustomization["resources"], "the Secret is created by hand, never applied"
    kinds = sorted(d["kind"] for r in kustomization["resources"] for d in _docs(K8S / r))
    assert kinds == ["Deployment", "Deployment", "Namespace"]
    for path in _shard_configs(kustomization).values():
        assert path.is_file(), path


def test_one_deployment_per_shard(kustomization: dict[str, Any]) -> None:
    deployments = _deployments(kustomization)
    configs = _shard_configs(kustomization)
    assert len(deployments) == len(configs) >= 2
    a = (K8S / "deployment-shard-a.yaml").read_text()
    assert (K8S / "deployment-shard-b.yaml").read_text() == a.replace("shard-a", "shard-b"), "keep the shards in step"
    for dep in deployments:
        spec = dep["spec"]
        assert spec["replicas"] == 1 and spec["strategy"]["type"] == "Recreate"
        assert spec["selector"]["matchLabels"].items() <= spec["template"]["metadata"]["labels"].items()
        volumes = {v["name"]: v for v in spec["template"]["spec"]["volumes"]}
        assert volumes["config"]["configMap"]["name"] in configs


def test_shard_configs_are_valid_and_own_different_instruments(kustomization: dict[str, Any],
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    from bot.config import load_config  # here: importing it (and ccxt) costs ~1.3 s

    for name in SECRET_ENV:
        monkeypatch.setenv(name, "redis://:pw@redis:6379/0" if name.endswith("URL") else "placeholder")
    seen_symbols: set[str] = set()
    prefixes = set()
    for path in _shard_configs(kustomization).values():
        raw = _load(path)
        for key, value in (raw.get("credentials") or {}).items():
            assert re.fullmatch(r"\$\{[A-Z_]+\}", value), f"{path.name}: credentials.{key} must be an ${{ENV}} reference"
        config = load_config(path)
        symbols = {i.symbol for i in config.instruments}
        assert not symbols & seen_symbols, f"{path.name}: instruments already owned by another shard"
        seen_symbols |= symbols
        prefixes.add(config.redis.prefix)
        assert config.logging.format == "json"
        if config.metrics.enabled:
            assert config.metrics.host == "0.0.0.0", "127.0.0.1 is unreachable from Prometheus"
    assert len(prefixes) == len(_shard_configs(kustomization)), "one prefix per shard (docs/deployment.md)"


def test_deployment_container(kustomization: dict[str, Any]) -> None:
    secret = _load(K8S / "secret.example.yaml")
    assert secret["kind"] == "Secret" and set(secret["stringData"]) == SECRET_ENV
    assert all("CHANGE_ME" in v for v in secret["stringData"].values()), "placeholders only"
    configs = _shard_configs(kustomization)
    uid = int([a for w, a in _dockerfile() if w == "USER"][-1].split(":")[0])
    for dep in _deployments(kustomization):
        pod = dep["spec"]["template"]["spec"]
        (container,) = pod["containers"]
        name = dep["metadata"]["name"]
        volumes = {v["name"]: v for v in pod["volumes"]}
        raw = _load(configs[volumes["config"]["configMap"]["name"]])

        args = container["args"]
        assert args[:3] == ["run", "--config", CONFIG_IN_POD] and ("--live" in args) == (raw["mode"] == "live")
        mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
        assert mounts["/etc/scalebot"]["readOnly"] is True
        assert volumes["config"]["configMap"]["items"] == [{"key": "scalebot.yaml", "path": "scalebot.yaml"}]
        assert "/tmp" in mounts, "readOnlyRootFilesystem: the markets cache goes to /tmp"

        for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
            command = container[probe]["exec"]["command"]
            assert command[:4] == ["scalebot", "health", "--config", CONFIG_IN_POD], f"{name} {probe}"
            assert container[probe]["timeoutSeconds"] >= 5, "health starts a Python process: ~2 s"

        env = {e["name"]: e for e in container["env"]}
        for var in SECRET_ENV:
            ref = env[var]["valueFrom"]["secretKeyRef"]
            assert "value" not in env[var] and ref == {"name": secret["metadata"]["name"], "key": var}
        for e in container["env"]:
            assert "value" not in e or not re.search(r"KEY|SECRET|PASSWORD|REDIS_URL", e["name"]), e["name"]
        assert env["SCALEBOT_CONFIG"]["value"] == CONFIG_IN_POD

        resources = container["resources"]
        for kind in ("requests", "limits"):
            assert {"cpu", "memory"} <= set(resources[kind]), f"{name}: resources.{kind}"

        pod_sc, sc = pod["securityContext"], container["securityContext"]
        assert pod_sc["runAsNonRoot"] is True and pod_sc["runAsUser"] == uid != 0
        assert pod_sc["seccompProfile"]["type"] == "RuntimeDefault"
        assert sc["allowPrivilegeEscalation"] is False and sc["readOnlyRootFilesystem"] is True
        assert sc["capabilities"]["drop"] == ["ALL"]
        assert pod["automountServiceAccountToken"] is False
        assert pod["terminationGracePeriodSeconds"] >= GRACE_S

        metrics = raw.get("metrics", {})
        annotations = dep["spec"]["template"]["metadata"]["annotations"]
        ports = {p["name"]: p["containerPort"] for p in container["ports"]}
        if metrics.get("enabled"):
            assert ports["metrics"] == int(annotations["prometheus.io/port"]) == metrics.get("port", 9108)
            assert annotations["prometheus.io/path"] == "/metrics"


def test_kubectl_kustomize_if_available() -> None:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl is not on PATH")
    result = subprocess.run([kubectl, "kustomize", str(K8S)], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    docs = [d for d in yaml.safe_load_all(result.stdout) if d]
    maps = {d["metadata"]["name"] for d in docs if d["kind"] == "ConfigMap"}
    for dep in (d for d in docs if d["kind"] == "Deployment"):
        assert dep["metadata"]["namespace"] == "scalebot"
        volume = next(v for v in dep["spec"]["template"]["spec"]["volumes"] if v["name"] == "config")
        assert volume["configMap"]["name"] in maps, "the generated (hashed) ConfigMap name is substituted"


# docs -------------------------------------------------------------------------------------------

def test_deployment_doc_covers_every_artefact() -> None:
    doc = (ROOT / "docs" / "deployment.md").read_text()
    for name in ("Dockerfile", ".dockerignore", "deploy/docker-compose.yml", "deploy/scalebot.service",
                 "deploy/k8s/", "secret.example.yaml", "scalebot health", "lease"):
        assert name in doc, f"docs/deployment.md does not mention {name}"
