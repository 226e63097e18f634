"""deploy/ agrees with the app, and each deploy check catches the breakage it exists for.

Every check in `tests.deploy.checks.CHECKS` gets at least one planted breakage here; the smoke run's
checks are run against a real gateway on loopback. The tools (yamllint, kubernetes-validate, checkov,
hadolint, the image build) run in `.ci/deploy-check`.
"""

from __future__ import annotations

import copy
import dataclasses
import secrets
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml  # type: ignore[import-untyped]

from gateway.app import create_app
from gateway.emulator.app import create_emulator_app
from gateway.loopback import ServerThread
from gateway.sandbox.run import Sandbox
from gateway.sandbox.server import create_app as create_sandbox_app
from gateway.sandbox.sessions import LocalSessions
from gateway.settings import Settings
from tests.deploy import checks, smoke
from tests.deploy.base import DEPLOY, Base, BaseError, Doc, load_base, read_env_file
from tests.sandbox.conftest import reserve_uids

SANDBOX_TOKEN = "smoke-" + secrets.token_hex(16)


@pytest.fixture(scope="module")
def base() -> Base:
    return load_base()


def test_the_base_passes_every_check(base: Base) -> None:
    kinds = sorted(d["kind"] for d in base.docs)
    assert kinds == sorted(
        [
            "ServiceAccount",
            "Job",
            "Deployment",
            "Service",
            "HorizontalPodAutoscaler",
            "PodDisruptionBudget",
            "ConfigMap",
            # sandbox.yaml
            "ServiceAccount",
            "Deployment",
            "Service",
            "NetworkPolicy",
        ]
    )
    assert base.config["BACKEND"] == "engine" and base.config["MIGRATE_ON_START"] == "false"
    assert base.secret["DATABASE_URL"].startswith("postgresql://")
    assert base.config["CODE_SANDBOX_URL"] == "http://minimax-gateway-sandbox:8001"
    assert (
        list(base.others) == ["minimax-gateway-sandbox"] and "DATABASE_URL" not in base.others[checks.SANDBOX]
    )
    assert checks.check(base) == []


# --- planted breakages --------------------------------------------------------------------------------


def _one(base: Base, kind: str) -> Doc:
    (doc,) = base.by(kind)
    return doc


def _named(base: Base, kind: str, name: str) -> Doc:
    (doc,) = [d for d in base.by(kind) if d["metadata"]["name"] == name]
    return doc


def _pod(base: Base, kind: str = "Deployment") -> Doc:
    doc = _named(base, kind, checks.GATEWAY) if kind == "Deployment" else _one(base, kind)
    pod: Doc = doc["spec"]["template"]["spec"]
    return pod


def _sandbox(base: Base) -> Doc:
    return _named(base, "Deployment", checks.SANDBOX)


def _sandbox_c(base: Base) -> Doc:
    container: Doc = _sandbox(base)["spec"]["template"]["spec"]["containers"][0]
    return container


def _sandbox_env(name: str) -> Callable[[Base], Doc]:
    def get(base: Base) -> Doc:
        items: list[Doc] = [e for e in _sandbox_c(base)["env"] if e["name"] == name]
        (item,) = items
        return item

    return get


def _token_ref(container: Callable[[Base], Doc]) -> Callable[[Base], Doc]:
    def get(base: Base) -> Doc:
        (item,) = [e for e in container(base)["env"] if e["name"] == checks.TOKEN]
        ref: Doc = item["valueFrom"]["secretKeyRef"]
        return ref

    return get


def _policy(base: Base) -> Doc:
    spec: Doc = _one(base, "NetworkPolicy")["spec"]
    return spec


def _peer(base: Base) -> Doc:
    peer: Doc = _policy(base)["ingress"][0]["from"][0]
    return peer


def _without(kind: str, name: str | None = None) -> Callable[[Base], Base]:
    def breaker(base: Base) -> Base:
        docs = [d for d in base.docs if not (d["kind"] == kind and name in (None, d["metadata"]["name"]))]
        return dataclasses.replace(base, docs=docs)

    return breaker


def _service_for_both(base: Base) -> Base:
    _pod_labels(base)["app.kubernetes.io/part-of"] = "minimax-gateway"
    both = copy.deepcopy(_named(base, "Service", checks.SANDBOX))
    both["metadata"]["name"] = "everything"
    both["spec"]["selector"] = {"app.kubernetes.io/part-of": "minimax-gateway"}
    return dataclasses.replace(base, docs=[*base.docs, both])


def _pod_labels(base: Base) -> Doc:
    labels: Doc = _named(base, "Deployment", checks.GATEWAY)["spec"]["template"]["metadata"]["labels"]
    return labels


def _server(base: Base) -> Doc:
    server: Doc = _pod(base)["containers"][0]
    return server


def _init(base: Base) -> Doc:
    init: Doc = _pod(base)["initContainers"][0]
    return init


def _job(base: Base) -> Doc:
    job: Doc = _pod(base, "Job")["containers"][0]
    return job


def _set(get: Callable[[Base], Any], key: str, value: Any) -> Callable[[Base], Base]:
    def breaker(base: Base) -> Base:
        get(base)[key] = value
        return base

    return breaker


def _image(**changes: Any) -> Callable[[Base], Base]:
    return lambda base: dataclasses.replace(base, image=dataclasses.replace(base.image, **changes))


def _drop(get: Callable[[Base], Any], key: str) -> Callable[[Base], Base]:
    def breaker(base: Base) -> Base:
        del get(base)[key]
        return base

    return breaker


def _probe(kind: str) -> Callable[[Base], Doc]:
    return lambda base: _server(base)[kind]["httpGet"]


def _no_job(base: Base) -> Base:
    return _without("Job")(base)


c = checks
BREAKAGES: dict[str, tuple[Callable[[Base], list[str]], Callable[[Base], Base], str]] = {
    "liveness on /readyz": (c.probe_errors, _set(_probe("livenessProbe"), "path", "/readyz"), "is /healthz"),
    "probe path no route": (
        c.probe_errors,
        _set(_probe("readinessProbe"), "path", "/ready"),
        "not a GET route",
    ),
    "listen port not a containerPort": (
        c.port_errors,
        _set(_server, "args", ["--host", "0.0.0.0", "--port", "8080"]),
        "listens on 8080, not on a containerPort",
    ),
    "listens on loopback": (c.port_errors, _set(_server, "args", ["--port", "8000"]), "listens on 127.0.0.1"),
    "port not EXPOSEd": (c.port_errors, _image(expose=[8080]), "the Dockerfile EXPOSEs [8080]"),
    "image CMD port differs": (
        c.port_errors,
        _image(cmd=["--host", "0.0.0.0", "--port", "9000"]),
        "the image's CMD on 9000",
    ),
    "probe on unknown port": (
        c.port_errors,
        _set(_probe("readinessProbe"), "port", "web"),
        "targets port 'web'",
    ),
    "Service targetPort": (
        c.port_errors,
        _set(lambda b: _named(b, "Service", checks.GATEWAY)["spec"]["ports"][0], "targetPort", "https"),
        "Service/minimax-gateway targets port 'https'",
    ),
    "uid differs from image": (
        c.user_errors,
        _set(lambda b: _server(b)["securityContext"], "runAsUser", 10002),
        "runAsUser 10002, the Dockerfile's USER 10001:10001",
    ),
    "image USER changed": (c.user_errors, _image(user="10002:10002"), "Job/minimax-gateway-migrate/migrate"),
    "initContainer gid": (
        c.user_errors,
        _set(lambda b: _init(b)["securityContext"], "runAsGroup", 0),
        "Deployment/minimax-gateway/migrate: runAsGroup 0",
    ),
    "grace too short": (c.grace_errors, _set(_pod, "terminationGracePeriodSeconds", 45), "45 < preStop 10"),
    "drain raised": (c.grace_errors, _set(lambda b: b.config, "DRAIN_SECONDS", "60"), "DRAIN_SECONDS 60"),
    "no preStop": (c.grace_errors, _drop(_server, "lifecycle"), "no preStop sleep"),
    "unknown setting": (
        c.settings_errors,
        _set(lambda b: b.config, "READ_TIMEOUT", "300"),
        "READ_TIMEOUT is not a setting",
    ),
    "lower-case key": (
        c.settings_errors,
        _set(lambda b: b.secret, "database_url", "x"),
        "database_url is not",
    ),
    "setting value does not load": (
        c.settings_errors,
        _set(lambda b: b.config, "DB_POOL_SIZE", "0"),
        "DB_POOL_SIZE: Input should be greater than 0",
    ),
    "secret in the ConfigMap": (
        c.settings_errors,
        _set(lambda b: b.config, "DATABASE_URL", "postgresql://u:p@h/db"),
        "DATABASE_URL is a secret",
    ),
    "migrate is not a command": (
        c.migration_errors,
        _set(_init, "args", ["migrat"]),
        "not a minimax-gateway",
    ),
    "Job serves instead": (c.migration_errors, _set(_job, "args", ["serve"]), "runs 'serve', not migrate"),
    "Job image differs": (
        c.migration_errors,
        _set(_job, "image", "registry.example.com/minimax-gateway:0.0.9"),
        "is not the server's",
    ),
    "Job without the Secret": (
        c.migration_errors,
        lambda b: _set(_job, "envFrom", _job(b)["envFrom"][:1])(b),
        "would migrate with other settings",
    ),
    "command replaces ENTRYPOINT": (
        c.migration_errors,
        _set(_init, "command", ["python"]),
        "replaces the image's",
    ),
    "no initContainer": (
        c.migration_errors,
        _drop(_pod, "initContainers"),
        "no initContainer runs the migration",
    ),
    "no Job": (c.migration_errors, _no_job, "no Job runs the migration"),
    "HPA max raised": (
        c.pool_errors,
        _set(lambda b: _one(b, "HorizontalPodAutoscaler")["spec"], "maxReplicas", 12),
        "13 pods x 8 connections + 1 migration = 105 > 97",
    ),
    "pool raised": (
        c.pool_errors,
        _set(lambda b: b.config, "DB_MAX_OVERFLOW", "5"),
        "11 pods x 10 connections",
    ),
    "sandbox token in the ConfigMap": (
        c.settings_errors,
        _set(lambda b: b.config, "CODE_SANDBOX_TOKEN", "t"),
        "CODE_SANDBOX_TOKEN is a secret",
    ),
    # --- the code sandbox server (sandbox.yaml)
    "sandbox replicas": (c.sandbox_errors, _set(lambda b: _sandbox(b)["spec"], "replicas", 2), "2 replicas"),
    "sandbox runs the gateway": (
        c.sandbox_errors,
        _set(_sandbox_c, "command", ["minimax-gateway"]),
        "command ['minimax-gateway'], not",
    ),
    "sandbox on loopback": (c.sandbox_errors, _set(_sandbox_c, "args", ["--port", "8001"]), "on 127.0.0.1"),
    "sandbox args": (c.sandbox_errors, _set(_sandbox_c, "args", ["--emulator"]), "not the sandbox server's"),
    "sandbox port": (
        c.sandbox_errors,
        _set(_sandbox_c, "args", ["--host", "0.0.0.0", "--port", "8002"]),
        "listens on 8002, not on a containerPort [8001]",
    ),
    "sandbox probe needs the token": (
        c.sandbox_errors,
        _set(lambda b: _sandbox_c(b)["readinessProbe"]["httpGet"], "path", "/v1/sessions/probe"),
        "readinessProbe on '/v1/sessions/probe', not a path served without the token",
    ),
    "sandbox Service targetPort": (
        c.sandbox_errors,
        _set(lambda b: _named(b, "Service", checks.SANDBOX)["spec"]["ports"][0], "targetPort", "http"),
        "Service/minimax-gateway-sandbox targets port 'http'",
    ),
    "sandbox Service selects nothing": (
        c.sandbox_errors,
        _set(lambda b: _named(b, "Service", checks.SANDBOX)["spec"], "selector", {"app": "x"}),
        "no Service selects the pods of minimax-gateway-sandbox",
    ),
    "a Service over both": (
        c.sandbox_errors,
        _service_for_both,
        "selects the gateway's pods and the sandbox's",
    ),
    "sandbox URL names the gateway": (
        c.sandbox_errors,
        _set(lambda b: b.config, "CODE_SANDBOX_URL", "http://minimax-gateway:8001"),
        "CODE_SANDBOX_URL=http://minimax-gateway:8001, not the sandbox's Service",
    ),
    "sandbox URL unset": (
        c.sandbox_errors,
        _drop(lambda b: b.config, "CODE_SANDBOX_URL"),
        "CODE_SANDBOX_URL=None, not",
    ),
    "sandbox gone, URL kept": (
        c.sandbox_errors,
        _without("Deployment", checks.SANDBOX),
        "but there is no Deployment/minimax-gateway-sandbox",
    ),
    "sessions on the read-only root": (
        c.sandbox_errors,
        _set(_sandbox_env("CODE_SANDBOX_DIR"), "value", "/var/lib/sessions"),
        "CODE_SANDBOX_DIR /var/lib/sessions is on the read-only root",
    ),
    "sandbox token from the gateway's Secret": (
        c.sandbox_token_errors,
        lambda b: _set(_token_ref(_server), "name", "minimax-gateway")(
            _set(_token_ref(_sandbox_c), "name", "minimax-gateway")(b)
        ),
        "which holds DATABASE_URL",
    ),
    "token keys differ": (
        c.sandbox_token_errors,
        _set(_token_ref(_server), "key", "TOKEN"),
        "the gateway reads Secret minimax-gateway-sandbox/TOKEN, the sandbox minimax-gateway-sandbox/",
    ),
    "sandbox token a literal": (
        c.sandbox_token_errors,
        lambda b: _drop(_sandbox_env(checks.TOKEN), "valueFrom")(
            _set(_sandbox_env(checks.TOKEN), "value", "x")(b)
        ),
        "the sandbox: CODE_SANDBOX_TOKEN does not come from a Secret",
    ),
    "gateway without the token": (
        c.sandbox_token_errors,
        _drop(_server, "env"),
        "the gateway: CODE_SANDBOX_TOKEN does not come from a Secret",
    ),
    "sandbox gets the gateway's Secret": (
        c.sandbox_token_errors,
        _set(_sandbox_c, "envFrom", [{"secretRef": {"name": "minimax-gateway"}}]),
        "envFrom Secret/minimax-gateway: the whole Secret",
    ),
    "no example of the token": (
        c.sandbox_token_errors,
        lambda b: dataclasses.replace(b, others={}),
        "no Secret minimax-gateway-sandbox with the key CODE_SANDBOX_TOKEN",
    ),
    "empty token": (
        c.sandbox_token_errors,
        _set(lambda b: b.others[checks.SANDBOX], checks.TOKEN, " "),
        "its environment does not start the server",
    ),
    "no NetworkPolicy": (c.sandbox_network_errors, _without("NetworkPolicy"), "no NetworkPolicy selects"),
    "egress allowed": (c.sandbox_network_errors, _set(_policy, "egress", [{}]), "allows egress"),
    "egress not restricted": (
        c.sandbox_network_errors,
        _set(_policy, "policyTypes", ["Ingress"]),
        "leave Egress open",
    ),
    "ingress from the migration too": (
        c.sandbox_network_errors,
        _drop(lambda b: _peer(b)["podSelector"]["matchLabels"], "app.kubernetes.io/component"),
        "also admits Job/minimax-gateway-migrate's pods",
    ),
    "ingress from another namespace": (
        c.sandbox_network_errors,
        _set(_peer, "namespaceSelector", {}),
        "admits ['namespaceSelector', 'podSelector']",
    ),
    "ingress not from the gateway": (
        c.sandbox_network_errors,
        _set(lambda b: _peer(b)["podSelector"]["matchLabels"], "app.kubernetes.io/component", "web"),
        "does not admit the gateway's pods",
    ),
    "ingress on every port": (
        c.sandbox_network_errors,
        _drop(lambda b: _policy(b)["ingress"][0], "ports"),
        "admits ports all, not only the server's 8001",
    ),
    "ingress from anywhere": (
        c.sandbox_network_errors,
        _drop(lambda b: _policy(b)["ingress"][0], "from"),
        "an ingress rule admits every source",
    ),
}


@pytest.mark.parametrize("name", sorted(BREAKAGES))
def test_check_catches(name: str, base: Base) -> None:
    check, breaker, expected = BREAKAGES[name]
    assert check(base) == []
    broken = breaker(copy.deepcopy(base))
    findings = check(broken)
    assert any(expected in f for f in findings), findings


def test_every_check_has_a_planted_breakage() -> None:
    assert {check for check, _, _ in BREAKAGES.values()} == set(checks.CHECKS)


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("LOG_LEVEL=info\nLOG_LEVEL=debug\n", "LOG_LEVEL is set twice"),
        ('LOG_LEVEL="info"\n', "quotes and trailing comments"),
        ("LOG_LEVEL=info # default\n", "quotes and trailing comments"),
        ("LOG_LEVEL\n", "is not KEY=VALUE"),
        ("LOG-LEVEL=info\n", "is not KEY=VALUE"),
    ],
)
def test_env_file_rules(line: str, expected: str, tmp_path: Path) -> None:
    env = tmp_path / "gateway.env"
    env.write_text("# comment\n\nBACKEND=engine\n" + line)
    with pytest.raises(BaseError, match=expected):
        read_env_file(env)


def test_a_kustomization_feature_not_understood_is_refused(tmp_path: Path) -> None:
    (tmp_path / "kustomization.yaml").write_text("resources: []\npatches:\n  - path: p.yaml\n")
    with pytest.raises(BaseError, match="patches"):
        load_base(tmp_path)


def test_render_writes_the_objects_with_the_configmap(tmp_path: Path) -> None:
    out = tmp_path / "rendered.yaml"
    assert checks.main(["render", str(out)]) == 0
    docs = list(yaml.safe_load_all(out.read_text()))
    (configmap,) = [d for d in docs if d["kind"] == "ConfigMap"]
    assert configmap["data"] == read_env_file(DEPLOY / "gateway.env")
    assert len(docs) == len(load_base().docs)


# --- the smoke run's checks, against a real gateway and a real sandbox server -------------------------


@pytest.fixture(scope="module")
def emulator() -> Iterator[str]:
    with ServerThread(create_emulator_app()) as server:
        yield server.url


def _gateway(emulator: str, db: Path, migrate: bool) -> ServerThread:
    settings = Settings(
        _env_file=None,
        backend="engine",
        database_url=f"sqlite:///{db}",
        migrate_on_start=migrate,
        minimax_base_url=emulator,
        auth_mode="passthrough",
    )
    return ServerThread(create_app(settings))


def test_smoke_passes_on_a_migrated_engine(emulator: str, tmp_path: Path) -> None:
    with _gateway(emulator, tmp_path / "gateway.db", migrate=True) as gw:
        smoke.http_checks(gw.url, start_timeout=10)


def test_smoke_fails_on_an_engine_without_its_schema(emulator: str, tmp_path: Path) -> None:
    # /readyz passes (the database answers SELECT 1); the first real call does not.
    with (
        _gateway(emulator, tmp_path / "gateway.db", migrate=False) as gw,
        pytest.raises(smoke.SmokeError, match="503"),
    ):
        smoke.http_checks(gw.url, start_timeout=10)


@pytest.fixture(scope="module")
def sandbox_server() -> Iterator[str]:
    root = Path(tempfile.mkdtemp(prefix="deploy-sandbox-"))
    root.chmod(0o711)  # the sessions' users pass through to their own directories
    sessions = LocalSessions(
        Sandbox(), root, location="local", idle_seconds=60, max_sessions=2, first_uid=reserve_uids(2)
    )
    try:
        with ServerThread(create_sandbox_app(sessions, SANDBOX_TOKEN)) as server:
            yield server.url
    finally:
        shutil.rmtree(root, ignore_errors=True)


def test_sandbox_smoke_passes_on_a_sandbox_server(sandbox_server: str) -> None:
    smoke.sandbox_checks(sandbox_server, SANDBOX_TOKEN)


def test_sandbox_smoke_fails_with_another_token(sandbox_server: str) -> None:
    with pytest.raises(smoke.SmokeError, match="PUT a file: HTTP 401"):
        smoke.sandbox_checks(sandbox_server, "not-" + SANDBOX_TOKEN)


def test_sandbox_env_is_the_containers_literal_env(tmp_path: Path) -> None:
    out = tmp_path / "sandbox.env"
    assert checks.main(["sandbox-env", str(out)]) == 0
    env = read_env_file(out)
    assert env["CODE_SANDBOX_DIR"] == "/sessions" and checks.TOKEN not in env


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"level": "info"}\nTraceback (most recent call last):\n  File "x"\n', "a traceback"),
        ("INFO started\nINFO stopped\n", "no JSON log lines"),
    ],
)
def test_smoke_log_check(text: str, expected: str) -> None:
    with pytest.raises(smoke.SmokeError, match=expected):
        smoke.check_logs(text)
