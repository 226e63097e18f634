"""deploy/ in the normal test run: the kustomize base renders, its cross-object invariants hold, its
settings are real `Settings` fields that load, and the checker does catch the usual breakages.

Needs only PyYAML and the gateway package; the heavier tools (yamllint, kubernetes-validate,
checkov, hadolint, the image build) run in `.ci/deploy-check`.
"""

from __future__ import annotations

import copy
import importlib.util
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

from gateway.settings import Settings

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"


def _load_checker() -> ModuleType:
    spec = importlib.util.spec_from_file_location("deploy_manifests", DEPLOY / "checks" / "manifests.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # pydantic looks classes defined in it up by module name
    spec.loader.exec_module(module)
    return module


m = _load_checker()
Doc = dict[str, Any]


@pytest.fixture(scope="module")
def base() -> list[Doc]:
    return m.render(DEPLOY)


@pytest.fixture(scope="module")
def secret_example() -> list[Doc]:
    return m.load_yaml_docs(DEPLOY / "secret.example.yaml")


def one(docs: list[Doc], kind: str) -> Doc:
    (doc,) = [d for d in docs if d["kind"] == kind]
    return doc


def env_file_settings() -> dict[str, str]:
    data, errors = m.read_env_file(DEPLOY / "gateway.env")
    assert errors == []
    return data


def test_base_renders_every_object(base: list[Doc]) -> None:
    kinds = sorted(d["kind"] for d in base)
    expected = ["ServiceAccount", "Deployment", "Service", "HorizontalPodAutoscaler", "PodDisruptionBudget"]
    assert kinds == sorted([*expected, "ConfigMap"])
    configmap = one(base, "ConfigMap")
    envfrom = one(base, "Deployment")["spec"]["template"]["spec"]["containers"][0]["envFrom"]
    assert {"configMapRef": {"name": configmap["metadata"]["name"]}} in envfrom
    assert configmap["metadata"]["name"].startswith("minimax-gateway-config-")


def test_every_yaml_file_parses_without_duplicate_keys() -> None:
    files = sorted(DEPLOY.glob("*.yaml"))
    assert len(files) >= 7
    for path in files:
        assert m.load_yaml_docs(path), path


def test_cross_object_invariants_hold(base: list[Doc], secret_example: list[Doc]) -> None:
    assert m.check(base, secret_example) == []


def test_configmap_keys_are_settings_fields() -> None:
    keys = env_file_settings()
    assert keys, "deploy/gateway.env sets nothing"
    unknown = [k for k in keys if k.lower() not in Settings.model_fields]
    assert unknown == [], f"not fields of gateway.settings.Settings: {unknown}"
    assert not {"MINIMAX_API_KEY", "GATEWAY_KEY_HASHES"} & set(keys), "secrets belong in the Secret"


def test_configmap_values_load_into_settings() -> None:
    assert m.settings_errors(env_file_settings(), "gateway.env") == []


def test_secret_example_keys_are_settings_fields(base: list[Doc], secret_example: list[Doc]) -> None:
    (secret,) = secret_example
    assert secret["kind"] == "Secret"
    assert all(k.lower() in Settings.model_fields for k in secret["stringData"])
    refs = [ef["secretRef"]["name"] for ef in _container(base)["envFrom"] if "secretRef" in ef]
    assert refs == [secret["metadata"]["name"]]


def test_grace_period_covers_prestop_and_drain(base: list[Doc]) -> None:
    pod = one(base, "Deployment")["spec"]["template"]["spec"]
    drain = float(env_file_settings().get("DRAIN_SECONDS", Settings.model_fields["drain_seconds"].default))
    sleep = m._prestop_seconds(pod["containers"][0])
    assert sleep > 0
    assert pod["terminationGracePeriodSeconds"] >= sleep + drain + m.SHUTDOWN_MARGIN


def test_kustomize_hash_matches_kustomize() -> None:
    # Produced by `kubectl kustomize` (kustomize v5.5.0) for configMapGenerator name x, env file `A=1`.
    assert m.kustomize_hash("ConfigMap", {"A": "1"}) == "89g4tffbfk"


# --- the checker catches breakage ------------------------------------------------------------------


def _deployment(docs: list[Doc]) -> Doc:
    return one(docs, "Deployment")


def _container(docs: list[Doc]) -> Doc:
    container: Doc = _deployment(docs)["spec"]["template"]["spec"]["containers"][0]
    return container


def _selector_mismatch(docs: list[Doc]) -> None:
    _deployment(docs)["spec"]["selector"]["matchLabels"] = {"app.kubernetes.io/name": "gateway"}


def _short_grace(docs: list[Doc]) -> None:
    _deployment(docs)["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] = 30


def _unknown_setting(docs: list[Doc]) -> None:
    one(docs, "ConfigMap")["data"]["READ_TIMEOUT"] = "300"


def _bad_setting_value(docs: list[Doc]) -> None:
    one(docs, "ConfigMap")["data"]["LOG_LEVEL"] = "verbose"


def _secret_in_configmap(docs: list[Doc]) -> None:
    one(docs, "ConfigMap")["data"]["MINIMAX_API_KEY"] = "sk-oops"


def _probe_port(docs: list[Doc]) -> None:
    _container(docs)["readinessProbe"]["httpGet"]["port"] = "web"


def _liveness_on_readyz(docs: list[Doc]) -> None:
    _container(docs)["livenessProbe"]["httpGet"]["path"] = "/readyz"


def _service_target(docs: list[Doc]) -> None:
    one(docs, "Service")["spec"]["ports"][0]["targetPort"] = "https"


def _service_selector(docs: list[Doc]) -> None:
    one(docs, "Service")["spec"]["selector"] = {"app": "other"}


def _bad_quantity(docs: list[Doc]) -> None:
    _container(docs)["resources"]["limits"]["memory"] = "512MB"


def _pdb_blocks(docs: list[Doc]) -> None:
    spec = one(docs, "PodDisruptionBudget")["spec"]
    spec.pop("maxUnavailable")
    spec["minAvailable"] = 2


def _hpa_target(docs: list[Doc]) -> None:
    one(docs, "HorizontalPodAutoscaler")["spec"]["scaleTargetRef"]["name"] = "gateway"


def _no_cpu_request(docs: list[Doc]) -> None:
    del _container(docs)["resources"]["requests"]["cpu"]


def _writable_root(docs: list[Doc]) -> None:
    _container(docs)["securityContext"]["readOnlyRootFilesystem"] = False


def _no_tmp(docs: list[Doc]) -> None:
    mounts = _container(docs)["volumeMounts"]
    _container(docs)["volumeMounts"] = [v for v in mounts if v["mountPath"] != "/tmp"]


def _wrong_port(docs: list[Doc]) -> None:
    _container(docs)["args"] = ["--host", "0.0.0.0", "--port", "8080"]


def _surge_zero(docs: list[Doc]) -> None:
    _deployment(docs)["spec"]["strategy"]["rollingUpdate"]["maxSurge"] = 0


def _root_user(docs: list[Doc]) -> None:
    _container(docs)["securityContext"]["runAsUser"] = 0


def _old_api(docs: list[Doc]) -> None:
    one(docs, "PodDisruptionBudget")["apiVersion"] = "policy/v1beta1"


def _missing_configmap(docs: list[Doc]) -> None:
    docs.remove(one(docs, "ConfigMap"))


BREAKAGES: dict[str, tuple[Callable[[list[Doc]], None], str]] = {
    "selector mismatch": (_selector_mismatch, "does not match template labels"),
    "grace period too short": (_short_grace, "terminationGracePeriodSeconds 30 <"),
    "unknown setting": (_unknown_setting, "READ_TIMEOUT is not a setting"),
    "invalid setting value": (_bad_setting_value, "settings do not load"),
    "secret in the ConfigMap": (_secret_in_configmap, "MINIMAX_API_KEY is a secret"),
    "probe on unknown port": (_probe_port, "readinessProbe port 'web' is not a named container port"),
    "liveness on readiness": (_liveness_on_readyz, "livenessProbe path '/readyz'"),
    "service targetPort": (_service_target, "targetPort 'https' is not a named container port"),
    "service selector": (_service_selector, "matches no Deployment's pods"),
    "memory quantity": (_bad_quantity, "'512MB' is not a valid quantity"),
    "pdb blocks drains": (_pdb_blocks, "node drains would block"),
    "hpa target missing": (_hpa_target, "target Deployment/gateway is not defined"),
    "hpa without cpu request": (_no_cpu_request, "has no cpu request"),
    "writable root fs": (_writable_root, "readOnlyRootFilesystem must be true"),
    "no /tmp emptyDir": (_no_tmp, "needs an emptyDir at /tmp"),
    "listen port != containerPort": (_wrong_port, "listens on 8080"),
    "rollout cannot progress": (_surge_zero, "maxSurge 0"),
    "uid differs from image": (_root_user, "differs from the Dockerfile's USER"),
    "removed apiVersion": (_old_api, "apiVersion 'policy/v1beta1', expected policy/v1"),
    "envFrom ConfigMap missing": (_missing_configmap, "envFrom ConfigMap 'minimax-gateway-config-"),
}


@pytest.mark.parametrize("name", sorted(BREAKAGES))
def test_checker_catches(name: str, base: list[Doc], secret_example: list[Doc]) -> None:
    breaker, expected = BREAKAGES[name]
    docs = copy.deepcopy(base)
    breaker(docs)
    errors = m.check(docs, secret_example)
    assert any(expected in e for e in errors), errors


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("LOG_LEVEL=info\nLOG_LEVEL=debug\n", "duplicate key LOG_LEVEL"),
        ('LOG_LEVEL="info"\n', "quoted"),
        ("LOG_LEVEL=info # default\n", "trailing comment"),
        ("LOG_LEVEL\n", "has no '='"),
        ("LOG-LEVEL=info\n", "not an environment variable name"),
    ],
)
def test_env_file_rules(line: str, expected: str, tmp_path: Path) -> None:
    env = tmp_path / "gateway.env"
    env.write_text("# comment\n\n" + line)
    _, errors = m.read_env_file(env)
    assert any(expected in e for e in errors), errors


def test_duplicate_yaml_key_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "dup.yaml"
    path.write_text("apiVersion: v1\nkind: Service\nmetadata:\n  name: a\n  name: b\n")
    with pytest.raises(yaml.constructor.ConstructorError, match="duplicate key 'name'"):
        m.load_yaml_docs(path)


def test_renderer_refuses_what_it_does_not_understand(tmp_path: Path) -> None:
    (tmp_path / "kustomization.yaml").write_text("resources: []\npatches:\n  - path: p.yaml\n")
    with pytest.raises(m.RenderError, match="patches"):
        m.render(tmp_path)
