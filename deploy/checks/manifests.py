"""Offline checks of deploy/: render the kustomize base, then the cross-object invariants that a
JSON-schema validator cannot see (an apiserver's Go validation, or the cluster, would catch them).

Used two ways, so a broken manifest fails both:
  * `.ci/deploy-check` runs it as a script (subcommands below) in its own tools venv;
  * `tests/deploy/test_manifests.py` imports it (needs only PyYAML and the gateway package).

    python deploy/checks/manifests.py render [--out FILE]    # the base, as `kubectl kustomize` would
    python deploy/checks/manifests.py invariants             # cross-object + app-contract checks
    python deploy/checks/manifests.py parity RENDERED.yaml   # our renderer == kubectl kustomize
    python deploy/checks/manifests.py kval 1.30 1.37         # kubernetes-validate, strict, per version

The renderer understands exactly what deploy/kustomization.yaml uses (plain `resources:` files and
`configMapGenerator:` from env files) and refuses anything else, so it cannot silently diverge;
where kubectl exists, `parity` proves its output equals kustomize's.
"""

# ruff: noqa: T201  (a CLI: it prints its findings)
from __future__ import annotations

import argparse
import copy
import hashlib
import json
import re
import shlex
import sys
import tempfile
from collections.abc import Iterator
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import yaml

DEPLOY = Path(__file__).resolve().parents[1]
REPO = DEPLOY.parent

# The app contract (README of deploy/): probe paths and the seconds uvicorn + the stream cancel wait
# may take after DRAIN_SECONDS (lifecycle.drain waits 5 s for cancelled streams, uvicorn 5 s more).
LIVENESS_PATH = "/healthz"
READINESS_PATH = "/readyz"
SHUTDOWN_MARGIN = 10
# The GA apiVersion of each kind the base may use, served by every supported cluster (1.30 .. 1.37).
# kubernetes-validate checks this per version in CI; this keeps the PyYAML-only test suite honest too.
API_VERSIONS = {
    "ConfigMap": "v1",
    "Secret": "v1",
    "Service": "v1",
    "ServiceAccount": "v1",
    "Deployment": "apps/v1",
    "HorizontalPodAutoscaler": "autoscaling/v2",
    "PodDisruptionBudget": "policy/v1",
    "NetworkPolicy": "networking.k8s.io/v1",
    "Ingress": "networking.k8s.io/v1",
}
# Settings that are secrets: they belong in the Secret, never in the ConfigMap.
SECRET_SETTINGS = {"MINIMAX_API_KEY", "GATEWAY_KEY_HASHES"}
# Common proxy / load-balancer idle timeouts are 60 s: SSE keep-alive pings must come sooner.
MAX_KEEPALIVE = 55

Doc = dict[str, Any]

# ---------------------------------------------------------------------------------------------
# YAML loading that refuses duplicate keys (PyYAML keeps the last one silently; so does kubectl).


class _StrictLoader(yaml.SafeLoader):
    pass


def _mapping_without_duplicates(loader: yaml.SafeLoader, node: yaml.MappingNode, deep: bool = False) -> Any:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
        seen.add(key)
    return loader.construct_mapping(node, deep=deep)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping_without_duplicates)


def load_yaml_docs(path: Path) -> list[Doc]:
    """Every non-empty document of a YAML file; duplicate keys are an error."""
    with path.open() as f:
        return [d for d in yaml.load_all(f, Loader=_StrictLoader) if d is not None]


# ---------------------------------------------------------------------------------------------
# kustomize env files and the generator's name hash


class RenderError(Exception):
    pass


ENV_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def read_env_file(path: Path) -> tuple[dict[str, str], list[str]]:
    """Parse a kustomize `envs:` file as kustomize does (KEY=VALUE, whole-line `#` comments, the
    value verbatim after the first `=`), plus the rules that keep it unambiguous for every reader
    (kustomize, python-dotenv, podman --env-file): no duplicate keys, no quotes, no trailing
    comments, no surrounding blanks, no `KEY` without `=` (kustomize would read the CI's environment)."""
    data: dict[str, str] = {}
    errs: list[str] = []
    for n, raw in enumerate(path.read_text().splitlines(), 1):
        line = raw.lstrip()
        if not line or line.startswith("#"):
            continue
        where = f"{path.name}:{n}"
        if "=" not in line:
            errs.append(f"{where}: {line!r} has no '=' (kustomize would copy it from the environment)")
            continue
        key, value = line.split("=", 1)
        if not ENV_KEY.match(key):
            errs.append(f"{where}: {key!r} is not an environment variable name")
        if key in data:
            errs.append(f"{where}: duplicate key {key} (kustomize rejects it; dotenv keeps the last)")
        if value != value.strip():
            errs.append(f"{where}: {key} value has leading/trailing blanks")
        if value[:1] in ("'", '"'):
            errs.append(f"{where}: {key} value is quoted; kustomize keeps the quotes in the value")
        if re.search(r"\s#", value):
            errs.append(f"{where}: {key} value has a trailing comment; kustomize keeps it in the value")
        data[key] = value
    return data, errs


def kustomize_hash(kind: str, data: dict[str, str]) -> str:
    """kustomize's name suffix (api/hasher): sha256 of Go's json.Marshal of {data, kind, name}, first
    10 hex digits with 0,1,3,a,e re-lettered. kustomize (v5.5, kubectl 1.32) hashes with an empty
    name, and that is what `parity` checks against the real kubectl."""
    encoded = json.dumps(
        {"data": data, "kind": kind, "name": ""}, sort_keys=True, separators=(",", ":"), ensure_ascii=False
    )
    for char, esc in (("&", "\\u0026"), ("<", "\\u003c"), (">", "\\u003e")):  # Go escapes these
        encoded = encoded.replace(char, esc)
    hexdigest = hashlib.sha256(encoded.encode()).hexdigest()[:10]
    return hexdigest.translate(str.maketrans("013ae", "ghkmt"))


def _pod_specs(doc: Doc) -> Iterator[Doc]:
    spec = doc.get("spec") or {}
    if doc.get("kind") in ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"):
        yield spec["template"]["spec"]
    elif doc.get("kind") == "CronJob":
        yield spec["jobTemplate"]["spec"]["template"]["spec"]
    elif doc.get("kind") == "Pod":
        yield spec


def _containers(pod: Doc) -> Iterator[Doc]:
    yield from pod.get("initContainers") or []
    yield from pod.get("containers") or []


def _rename_configmap_refs(docs: list[Doc], old: str, new: str) -> None:
    for doc in docs:
        for pod in _pod_specs(doc):
            for c in _containers(pod):
                for ef in c.get("envFrom") or []:
                    if (ef.get("configMapRef") or {}).get("name") == old:
                        ef["configMapRef"]["name"] = new
                for ev in c.get("env") or []:
                    ref = (ev.get("valueFrom") or {}).get("configMapKeyRef") or {}
                    if ref.get("name") == old:
                        ref["name"] = new
            for vol in pod.get("volumes") or []:
                if (vol.get("configMap") or {}).get("name") == old:
                    vol["configMap"]["name"] = new
                for src in (vol.get("projected") or {}).get("sources") or []:
                    if (src.get("configMap") or {}).get("name") == old:
                        src["configMap"]["name"] = new


def render(deploy_dir: Path = DEPLOY) -> list[Doc]:
    """The base's objects, as `kubectl kustomize deploy/` renders them (order aside)."""
    (kust,) = load_yaml_docs(deploy_dir / "kustomization.yaml")
    unsupported = set(kust) - {"apiVersion", "kind", "resources", "configMapGenerator"}
    if unsupported:
        raise RenderError(f"kustomization.yaml uses {sorted(unsupported)}: not supported by this renderer")
    docs: list[Doc] = []
    for res in kust.get("resources") or []:
        path = deploy_dir / res
        if not path.is_file():
            raise RenderError(
                f"resource {res!r} is not a file in {deploy_dir} (directories/URLs unsupported)"
            )
        docs += load_yaml_docs(path)
    for gen in kust.get("configMapGenerator") or []:
        extra = set(gen) - {"name", "envs", "options"}
        if extra or set(gen.get("options") or {}) - {"labels", "annotations"}:
            raise RenderError(
                f"configMapGenerator {gen.get('name')}: only name/envs/options.labels supported"
            )
        data: dict[str, str] = {}
        for env in gen.get("envs") or []:
            pairs, errs = read_env_file(deploy_dir / env)
            if errs:
                raise RenderError("; ".join(errs))
            for key in pairs.keys() & data.keys():
                raise RenderError(f"configMapGenerator {gen['name']}: key {key} in more than one env file")
            data.update(pairs)
        name = f"{gen['name']}-{kustomize_hash('ConfigMap', data)}"
        meta: Doc = {"name": name}
        for field in ("labels", "annotations"):
            if (gen.get("options") or {}).get(field):
                meta[field] = dict(gen["options"][field])
        docs.append({"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": data})
        _rename_configmap_refs(docs, gen["name"], name)
    return docs


# ---------------------------------------------------------------------------------------------
# Invariants

QUANTITY = re.compile(r"^([+-]?(?:\d+(?:\.\d*)?|\.\d+))(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E|[eE][+-]?\d+)?$")
SUFFIX = {
    "Ki": 2**10,
    "Mi": 2**20,
    "Gi": 2**30,
    "Ti": 2**40,
    "Pi": 2**50,
    "Ei": 2**60,
    "n": Decimal("1e-9"),
    "u": Decimal("1e-6"),
    "m": Decimal("1e-3"),
    "k": 10**3,
    "M": 10**6,
    "G": 10**9,
    "T": 10**12,
    "P": 10**15,
    "E": 10**18,
}
DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
DNS1035_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
PORT_NAME = re.compile(r"^(?=.*[a-z])[a-z0-9]([a-z0-9-]*[a-z0-9])?$")


def quantity(value: Any) -> Decimal | None:
    """A Kubernetes resource quantity as a number, or None if it is not one (`512MB`, `1 Gi`)."""
    m = QUANTITY.match(str(value))
    if not m:
        return None
    try:
        number, suffix = Decimal(m.group(1)), m.group(2) or ""
    except InvalidOperation:
        return None
    if suffix[:1] in ("e", "E"):
        return number * Decimal(10) ** int(suffix[1:])
    return number * Decimal(SUFFIX.get(suffix, 1))


def _selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return bool(selector) and selector.items() <= labels.items()


def _prestop_seconds(container: Doc) -> int:
    pre = (container.get("lifecycle") or {}).get("preStop") or {}
    if "sleep" in pre:  # the native sleep action (1.30+)
        return int(pre["sleep"]["seconds"])
    cmd = (pre.get("exec") or {}).get("command") or []
    if len(cmd) == 1 and isinstance(cmd[0], str):
        cmd = shlex.split(cmd[0])
    if len(cmd) >= 3 and cmd[0].endswith("sh") and cmd[1] == "-c":
        cmd = shlex.split(cmd[2])
    if len(cmd) == 2 and cmd[0] in ("sleep", "/bin/sleep", "/usr/bin/sleep"):
        return int(float(cmd[1]))
    return 0


def _cli_port(args: list[str]) -> int | None:
    for i, arg in enumerate(args):
        if arg == "--port" and i + 1 < len(args):
            return int(args[i + 1])
        if arg.startswith("--port="):
            return int(arg.split("=", 1)[1])
    return None


def dockerfile_facts(path: Path) -> dict[str, Any]:
    """USER, EXPOSE and the exec-form ENTRYPOINT + CMD of the Dockerfile's last stage."""
    lines, buf = [], ""
    for raw in path.read_text().splitlines():
        if raw.strip().startswith("#") and not buf:
            continue
        buf += raw.rstrip("\\").strip() + " "
        if not raw.rstrip().endswith("\\"):
            lines.append(buf.strip())
            buf = ""
    facts: dict[str, Any] = {"user": None, "expose": [], "entrypoint": None, "cmd": None, "errors": []}
    for line in lines:
        instr, _, rest = line.partition(" ")
        instr = instr.upper()
        if instr == "FROM":  # a new stage: only the last one is the image
            facts.update(user=None, expose=[], entrypoint=None, cmd=None)
        elif instr == "USER":
            facts["user"] = rest.strip()
        elif instr == "EXPOSE":
            facts["expose"] += [int(p.split("/")[0]) for p in rest.split()]
        elif instr in ("ENTRYPOINT", "CMD"):
            try:
                value = json.loads(rest)
            except ValueError:
                value = None
            if not isinstance(value, list):
                facts["errors"].append(f"Dockerfile: {instr} is not exec form (SIGTERM would hit a shell)")
            facts[instr.lower()] = value
    return facts


def settings_model() -> Any:
    from gateway.settings import Settings  # the app's authoritative list of settings

    return Settings


def key_errors(keys: list[str], source: str) -> list[str]:
    """Each key must be an upper-case field name of gateway.settings.Settings."""
    fields = settings_model().model_fields
    errs = [
        f"{source}: {key} is not a setting (gateway.settings.Settings has no field {key.lower()!r})"
        for key in keys
        if key.lower() not in fields
    ]
    errs += [
        f"{source}: {key} must be upper case (the convention of the env file and the Secret)"
        for key in keys
        if key != key.upper()
    ]
    return errs


def settings_errors(data: dict[str, str], source: str) -> list[str]:
    """Every key must be a Settings field, and the values must load (as env vars, which is what
    envFrom makes of them). The secrets are stubbed so gateway_keys mode validates too."""
    errs = key_errors(list(data), source)
    if errs:
        return errs
    settings_cls = settings_model()

    class FromFileOnly(settings_cls):  # type: ignore[misc, valid-type]
        @classmethod
        def settings_customise_sources(
            cls,
            settings_cls: Any,
            init_settings: Any,
            env_settings: Any,
            dotenv_settings: Any,
            file_secret_settings: Any,
        ) -> tuple[Any, ...]:
            return (init_settings, dotenv_settings)  # not the environment of whoever runs the check

    with tempfile.TemporaryDirectory() as tmp:
        env = Path(tmp) / "settings.env"
        env.write_text("".join(f"{k}='{v}'\n" if "'" not in v else f"{k}={v}\n" for k, v in data.items()))
        try:
            FromFileOnly(
                _env_file=env,
                minimax_api_key="placeholder",
                gateway_key_hashes_file=None,
                gateway_key_hashes=["sha256:" + "0" * 64],
            )
        except Exception as exc:  # pydantic ValidationError, or whatever a validator raises
            return [f"{source}: settings do not load: {exc}".replace("\n", " | ")]
    return []


def _app_paths() -> set[str]:
    from gateway.api.routes import routes

    return {r.path for r in routes}


def check(docs: list[Doc], secret_examples: list[Doc] | None = None, repo: Path = REPO) -> list[str]:
    """Return every broken invariant of the rendered base (empty: all hold). `secret_examples`: Secrets
    kept out of the kustomization (the example) whose keys are checked and whose names count as defined."""
    errs: list[str] = []
    secret_examples = secret_examples or []

    def by(kind: str) -> list[Doc]:
        return [d for d in docs if d.get("kind") == kind]

    names: dict[tuple[str, str], Doc] = {}
    for d in docs:
        key = (d.get("kind", "?"), (d.get("metadata") or {}).get("name", "?"))
        if key in names:
            errs.append(f"{key[0]}/{key[1]}: defined twice")
        names[key] = d
        want = API_VERSIONS.get(key[0])
        if d.get("apiVersion") != want:
            expected = want or "a kind this check knows"
            errs.append(f"{key[0]}/{key[1]}: apiVersion {d.get('apiVersion')!r}, expected {expected}")
        name = key[1]
        if len(name) > 253 or not DNS1123_SUBDOMAIN.match(name):
            errs.append(f"{key[0]}/{name}: name is not a DNS-1123 subdomain")
        if key[0] == "Service" and (len(name) > 63 or not DNS1035_LABEL.match(name)):
            errs.append(f"Service/{name}: name is not a DNS-1035 label")
    secrets = {(d["metadata"]["name"]) for d in [*by("Secret"), *secret_examples]}
    configmaps = by("ConfigMap")
    hpas = by("HorizontalPodAutoscaler")
    docker = dockerfile_facts(repo / "deploy" / "Dockerfile")
    errs += docker["errors"]
    image_cmd = (docker["entrypoint"] or []) + (docker["cmd"] or [])
    if docker["user"] is None or docker["user"].split(":")[0] in ("", "0", "root"):
        errs.append(
            f"Dockerfile: the image runs as {docker['user'] or 'root'}; it must set a numeric non-root USER"
        )

    try:
        app_paths = _app_paths()
    except Exception as exc:
        app_paths = set()
        errs.append(f"cannot import the app's routes to check probe paths: {exc}")

    settings: dict[str, str] = {}
    for cm in configmaps:
        settings.update({k: str(v) for k, v in (cm.get("data") or {}).items()})
        errs += settings_errors(
            {k: str(v) for k, v in (cm.get("data") or {}).items()}, f"ConfigMap/{cm['metadata']['name']}"
        )
        for key in SECRET_SETTINGS & set(cm.get("data") or {}):
            errs.append(f"ConfigMap/{cm['metadata']['name']}: {key} is a secret; put it in the Secret")
    for sec in [*by("Secret"), *secret_examples]:
        keys = [*(sec.get("stringData") or {}), *(sec.get("data") or {})]
        errs += key_errors(keys, f"Secret/{sec['metadata']['name']}")

    fields = settings_model().model_fields

    def setting(key: str) -> str:
        return settings.get(key, str(fields[key.lower()].default))

    drain = float(setting("DRAIN_SECONDS"))
    keepalive = float(setting("KEEPALIVE_INTERVAL"))
    if not 0 < keepalive <= MAX_KEEPALIVE:
        errs.append(
            f"KEEPALIVE_INTERVAL={keepalive:g}: SSE pings must be on and under {MAX_KEEPALIVE}s "
            "(60 s proxy/LB idle timeouts)"
        )
    if int(setting("MAX_CONNECTIONS")) < int(setting("MAX_STREAMS")):
        errs.append("MAX_CONNECTIONS < MAX_STREAMS: streams beyond the pool would queue for a connection")

    deployments = by("Deployment")
    if not deployments:
        errs.append("no Deployment in the base")
    for dep in deployments:
        n, spec = dep["metadata"]["name"], dep["spec"]
        where = f"Deployment/{n}"
        tmpl = spec["template"]
        labels = (tmpl.get("metadata") or {}).get("labels") or {}
        sel = spec.get("selector") or {}
        if set(sel) - {"matchLabels"}:
            errs.append(
                f"{where}: only selector.matchLabels is checked; {sorted(set(sel) - {'matchLabels'})} is not"
            )
        if not _selects(sel.get("matchLabels") or {}, labels):
            errs.append(f"{where}: selector {sel.get('matchLabels')} does not match template labels {labels}")
        replicas = spec.get("replicas", 1)
        strategy = spec.get("strategy") or {}
        ru = strategy.get("rollingUpdate") or {}
        if strategy.get("type", "RollingUpdate") != "RollingUpdate" or ru.get("maxUnavailable") not in (
            0,
            "0%",
        ):
            errs.append(f"{where}: strategy must be RollingUpdate with maxUnavailable 0 (no capacity lost)")
        if ru.get("maxSurge", "25%") in (0, "0%"):
            errs.append(
                f"{where}: maxSurge 0 with maxUnavailable 0 can never roll (the apiserver rejects it)"
            )
        pod = tmpl["spec"]
        psc = pod.get("securityContext") or {}
        if pod.get("automountServiceAccountToken") is not False:
            errs.append(f"{where}: automountServiceAccountToken must be false (the gateway calls no k8s API)")
        sa = pod.get("serviceAccountName", "default")
        if sa != "default" and ("ServiceAccount", sa) not in names:
            errs.append(f"{where}: serviceAccountName {sa!r} is not defined")
        for tsc in pod.get("topologySpreadConstraints") or []:
            if not _selects((tsc.get("labelSelector") or {}).get("matchLabels") or {}, labels):
                errs.append(
                    f"{where}: topologySpreadConstraint on {tsc.get('topologyKey')} selects no pod of its own"
                )
        anti = (pod.get("affinity") or {}).get("podAntiAffinity") or {}
        terms = [t.get("podAffinityTerm", t) for k in anti for t in anti[k]]
        for term in terms:
            if not _selects((term.get("labelSelector") or {}).get("matchLabels") or {}, labels):
                errs.append(f"{where}: podAntiAffinity term selects no pod of its own")
        if not pod.get("topologySpreadConstraints") and not terms:
            errs.append(
                f"{where}: no topologySpreadConstraints or podAntiAffinity: replicas may share a node"
            )
        volumes = {v["name"]: v for v in pod.get("volumes") or []}
        for vol in volumes.values():
            ref = vol.get("secret") or {}
            if ref and not ref.get("optional") and ref.get("secretName") not in secrets:
                errs.append(
                    f"{where}: volume {vol['name']} needs Secret {ref.get('secretName')!r}: "
                    "neither defined nor optional"
                )
            ref = vol.get("configMap") or {}
            if ref and not ref.get("optional") and ("ConfigMap", ref.get("name")) not in names:
                errs.append(f"{where}: volume {vol['name']} needs ConfigMap {ref.get('name')!r}, not defined")
        grace = pod.get("terminationGracePeriodSeconds", 30)
        for c in pod.get("containers") or []:
            cw = f"{where}/{c['name']}"
            csc = c.get("securityContext") or {}
            ports = {p.get("name"): p["containerPort"] for p in c.get("ports") or []}
            if len(ports) != len(c.get("ports") or []):
                errs.append(f"{cw}: container port names are not unique")
            for pn in ports:
                if pn is not None and (len(pn) > 15 or not PORT_NAME.match(pn)):
                    errs.append(f"{cw}: port name {pn!r} is not an IANA service name (<= 15 chars, a-z0-9-)")
            cmd = (c.get("command") or docker["entrypoint"] or []) + (
                c.get("args") if "args" in c else ([] if "command" in c else docker["cmd"] or [])
            )
            port = _cli_port(cmd)
            if port is None or port not in ports.values():
                errs.append(
                    f"{cw}: the gateway listens on {port} ({' '.join(cmd)}), "
                    f"not on a containerPort {sorted(ports.values())}"
                )
            if port is not None and docker["expose"] and port not in docker["expose"]:
                errs.append(f"{cw}: listens on {port} but the Dockerfile EXPOSEs {docker['expose']}")
            if _cli_port(image_cmd) is not None and _cli_port(image_cmd) != port:
                errs.append(
                    f"{cw}: args port {port} differs from the image's CMD port {_cli_port(image_cmd)}"
                )
            for kind, want in (("readinessProbe", READINESS_PATH), ("livenessProbe", LIVENESS_PATH)):
                probe = c.get(kind)
                if not probe:
                    errs.append(f"{cw}: no {kind}")
                    continue
                hg = probe.get("httpGet") or {}
                if hg.get("path") != want:
                    errs.append(f"{cw}: {kind} path {hg.get('path')!r}, the app's contract is {want!r}")
                if app_paths and hg.get("path") not in app_paths:
                    errs.append(f"{cw}: {kind} path {hg.get('path')!r} is not a route of the app")
                pp = hg.get("port")
                if isinstance(pp, str) and pp not in ports:
                    errs.append(f"{cw}: {kind} port {pp!r} is not a named container port")
                if isinstance(pp, int) and pp not in ports.values():
                    errs.append(f"{cw}: {kind} port {pp} is not a container port")
            res = c.get("resources") or {}
            for section in ("requests", "limits"):
                for k, v in (res.get(section) or {}).items():
                    if quantity(v) is None:
                        errs.append(f"{cw}: {section}.{k}={v!r} is not a valid quantity")
            for k in ("cpu", "memory"):
                req, lim = (res.get("requests") or {}).get(k), (res.get("limits") or {}).get(k)
                if req is None or lim is None:
                    errs.append(f"{cw}: resources need requests and limits for {k}")
                elif None not in (quantity(req), quantity(lim)) and quantity(req) > quantity(lim):  # type: ignore[operator]
                    errs.append(f"{cw}: requests.{k} {req} > limits.{k} {lim}")
            for ef in c.get("envFrom") or []:
                ref = ef.get("configMapRef")
                if ref and ("ConfigMap", ref.get("name")) not in names and not ref.get("optional"):
                    errs.append(f"{cw}: envFrom ConfigMap {ref.get('name')!r} is not defined")
                ref = ef.get("secretRef")
                if ref and ref.get("name") not in secrets and not ref.get("optional"):
                    errs.append(f"{cw}: envFrom Secret {ref.get('name')!r} is neither defined nor optional")
                if ef.get("prefix"):
                    errs.append(f"{cw}: envFrom prefix {ef['prefix']!r} would hide the settings from the app")
            image = c.get("image", "")
            if "@sha256:" not in image and (":" not in image.rsplit("/", 1)[-1] or image.endswith(":latest")):
                errs.append(f"{cw}: image {image!r} is not pinned to a tag or digest")
            # securityContext: what the image was built for (uid 10001, read-only root, no privileges)
            uid = csc.get("runAsUser", psc.get("runAsUser"))
            if not csc.get("runAsNonRoot", psc.get("runAsNonRoot")):
                errs.append(f"{cw}: runAsNonRoot must be true")
            if docker["user"] and str(uid) != docker["user"].split(":")[0]:
                errs.append(f"{cw}: runAsUser {uid} differs from the Dockerfile's USER {docker['user']}")
            if csc.get("allowPrivilegeEscalation") is not False:
                errs.append(f"{cw}: allowPrivilegeEscalation must be false")
            if "ALL" not in ((csc.get("capabilities") or {}).get("drop") or []):
                errs.append(f"{cw}: capabilities must drop ALL")
            if (
                (csc.get("seccompProfile") or psc.get("seccompProfile") or {}).get("type")
            ) != "RuntimeDefault":
                errs.append(f"{cw}: seccompProfile must be RuntimeDefault")
            mounts = {m["mountPath"]: m for m in c.get("volumeMounts") or []}
            for m in mounts.values():
                if m["name"] not in volumes:
                    errs.append(f"{cw}: volumeMount {m['name']!r} has no volume")
            if csc.get("readOnlyRootFilesystem") is not True:
                errs.append(f"{cw}: readOnlyRootFilesystem must be true")
            elif "emptyDir" not in volumes.get((mounts.get("/tmp") or {}).get("name", ""), {}):
                errs.append(f"{cw}: read-only root filesystem needs an emptyDir at /tmp")
            keyfile = settings.get("GATEWAY_KEY_HASHES_FILE")
            if keyfile and not any(keyfile.startswith(p.rstrip("/") + "/") for p in mounts):
                errs.append(f"{cw}: GATEWAY_KEY_HASHES_FILE={keyfile} is under no volumeMount")
            # shutdown: preStop sleep, then SIGTERM and DRAIN_SECONDS for open streams, then exit
            sleep = _prestop_seconds(c)
            if sleep <= 0:
                errs.append(
                    f"{cw}: no preStop sleep: the pod would stop before endpoints/ingresses forget it"
                )
            if grace < sleep + drain + SHUTDOWN_MARGIN:
                errs.append(
                    f"{where}: terminationGracePeriodSeconds {grace} < preStop sleep {sleep} + DRAIN_SECONDS "
                    f"{drain:g} + {SHUTDOWN_MARGIN} s shutdown margin: open SSE streams would be SIGKILLed"
                )

        for svc in by("Service"):
            sw = f"Service/{svc['metadata']['name']}"
            if _selects(svc["spec"].get("selector") or {}, labels):
                cports = {
                    p.get("name"): p["containerPort"] for c in pod["containers"] for p in c.get("ports") or []
                }
                for p in svc["spec"].get("ports") or []:
                    tp = p.get("targetPort", p.get("port"))
                    if isinstance(tp, str) and tp not in cports:
                        errs.append(f"{sw}: targetPort {tp!r} is not a named container port of {where}")
                    if isinstance(tp, int) and tp not in cports.values():
                        errs.append(f"{sw}: targetPort {tp} is not a container port of {where}")
                    if not p.get("name"):
                        errs.append(f"{sw}: port {p.get('port')} has no name")
        hpa_min = [
            h["spec"].get("minReplicas", 1) for h in hpas if h["spec"]["scaleTargetRef"].get("name") == n
        ]
        floor = min([replicas, *hpa_min])
        for pdb in by("PodDisruptionBudget"):
            pw = f"PodDisruptionBudget/{pdb['metadata']['name']}"
            if not _selects((pdb["spec"].get("selector") or {}).get("matchLabels") or {}, labels):
                continue
            ma, mu = pdb["spec"].get("minAvailable"), pdb["spec"].get("maxUnavailable")
            if isinstance(ma, int) and ma >= floor:
                errs.append(f"{pw}: minAvailable {ma} >= {floor} replicas: node drains would block")
            if mu in (0, "0%") or ma in ("100%",):
                errs.append(f"{pw}: allows no disruption: node drains would block")
            if floor < 2:
                errs.append(f"{pw}: with {floor} replica(s) any eviction is an outage; run >= 2")
        if not any(
            _selects((p["spec"].get("selector") or {}).get("matchLabels") or {}, labels)
            for p in by("PodDisruptionBudget")
        ):
            errs.append(f"{where}: no PodDisruptionBudget selects its pods")

    for svc in by("Service"):
        s = svc["spec"].get("selector") or {}
        if s and not any(
            _selects(s, (d["spec"]["template"].get("metadata") or {}).get("labels") or {})
            for d in deployments
        ):
            errs.append(f"Service/{svc['metadata']['name']}: selector {s} matches no Deployment's pods")
        if svc["spec"].get("type", "ClusterIP") != "ClusterIP":
            errs.append(
                f"Service/{svc['metadata']['name']}: type must be ClusterIP (expose through an ingress)"
            )
    for hpa in hpas:
        hw, s = f"HorizontalPodAutoscaler/{hpa['metadata']['name']}", hpa["spec"]
        t = s["scaleTargetRef"]
        target = names.get((t.get("kind", ""), t.get("name", "")))
        if target is None:
            errs.append(f"{hw}: target {t.get('kind')}/{t.get('name')} is not defined")
            continue
        lo, hi = s.get("minReplicas", 1), s["maxReplicas"]
        if lo > hi:
            errs.append(f"{hw}: minReplicas {lo} > maxReplicas {hi}")
        reps = target["spec"].get("replicas", 1)
        if not lo <= reps <= hi:
            errs.append(f"{hw}: the Deployment's replicas {reps} is outside [{lo}, {hi}]")
        for m in s.get("metrics") or []:
            r = m.get("resource") or {}
            if m.get("type") == "Resource" and (r.get("target") or {}).get("type") == "Utilization":
                for c in target["spec"]["template"]["spec"]["containers"]:
                    if r.get("name") not in ((c.get("resources") or {}).get("requests") or {}):
                        errs.append(
                            f"{hw}: {r.get('name')} Utilization target but container {c['name']} "
                            f"has no {r.get('name')} request"
                        )
    return errs


# ---------------------------------------------------------------------------------------------
# Entry points


def _canonical(docs: list[Doc], generated: list[str]) -> tuple[dict[tuple[str, str], str], set[str]]:
    """Objects by (kind, name) as canonical JSON, with the generated ConfigMaps' hash suffixes taken
    out (they depend on the kustomize version); also returns the suffixed names seen."""
    alternatives = "|".join(map(re.escape, generated))
    pattern = re.compile(r"\b(" + alternatives + r")-[a-z0-9]{10}\b") if generated else None
    out, seen = {}, set()
    for d in docs:
        text = json.dumps(d, sort_keys=True)
        if pattern:
            seen |= {m.group(0) for m in pattern.finditer(text)}
            text = pattern.sub(r"\1", text)
        obj = json.loads(text)
        out[(obj["kind"], obj["metadata"]["name"])] = text
    return out, seen


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="manifests.py")
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("render")
    r.add_argument("--out", type=Path)
    sub.add_parser("invariants")
    par = sub.add_parser("parity")
    par.add_argument("kubectl_output", type=Path)
    kv = sub.add_parser("kval")
    kv.add_argument("versions", nargs="+")
    kv.add_argument("--files", nargs="+", type=Path, required=True)
    args = p.parse_args(argv)
    try:
        return _run(args)
    except (RenderError, yaml.YAMLError, OSError) as exc:
        print(f"FAIL {args.cmd}: {type(exc).__name__}: {exc}")
        return 1


def _run(args: argparse.Namespace) -> int:
    if args.cmd == "render":
        text = yaml.safe_dump_all(render(), sort_keys=True)
        if args.out:
            args.out.write_text(text)
        else:
            sys.stdout.write(text)
        return 0
    if args.cmd == "invariants":
        docs = render()
        examples = load_yaml_docs(DEPLOY / "secret.example.yaml")
        problems = check(docs, examples)
        for e in problems:
            print("FAIL", e)
        print(f"invariants: {len(docs)} objects (+{len(examples)} example), {len(problems)} problems")
        return 1 if problems else 0
    if args.cmd == "parity":
        (kust,) = load_yaml_docs(DEPLOY / "kustomization.yaml")
        generated = [g["name"] for g in kust.get("configMapGenerator") or []]
        ours, our_names = _canonical(render(), generated)
        theirs, their_names = _canonical(load_yaml_docs(args.kubectl_output), generated)
        diff = sorted(set(ours) ^ set(theirs))
        diff += sorted(k for k in ours.keys() & theirs.keys() if ours[k] != theirs[k])
        for k in diff:
            print(f"FAIL renderer differs from kubectl kustomize on {k[0]}/{k[1]}")
        if our_names != their_names:  # a different kustomize version may hash differently: harmless
            print(f"note: generated names differ: ours {sorted(our_names)}, kubectl's {sorted(their_names)}")
        print(f"parity: {len(theirs)} objects from kubectl, {len(diff)} differences")
        return 1 if diff else 0
    if args.cmd == "kval":
        import kubernetes_validate as kval  # only in the CI tools venv

        bad = total = 0
        files = [(path, load_yaml_docs(path)) for path in args.files]
        for version in args.versions:
            for path, docs in files:
                for d in docs:
                    total += 1
                    try:
                        kval.validate(copy.deepcopy(d), version, strict=True)
                    except Exception as exc:  # SchemaNotFoundError for removed apiVersions, ValidationError
                        bad += 1
                        msg = getattr(exc, "message", "") or str(exc) or "no schema (removed apiVersion?)"
                        at = ".".join(str(x) for x in getattr(exc, "path", []))
                        name = (d.get("metadata") or {}).get("name")
                        print(
                            f"FAIL k8s {version}: {path.name}: {d.get('apiVersion')} {d.get('kind')}/{name} "
                            f"{at}: {type(exc).__name__}: {msg}"
                        )
        print(f"kubernetes-validate (strict) {' '.join(args.versions)}: {total} checks, {bad} failures")
        return 1 if bad else 0
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
