"""The deploy/ checks no tool makes: the manifests against the app, its image, its settings and its CLI.

yamllint, kubernetes-validate and checkov (`.ci/deploy-check`) cover syntax, schemas and the security
context; what only this project knows is here. `python -m tests.deploy.checks` runs them (exit 1 on a
finding); `python -m tests.deploy.checks render FILE` writes the objects for the tools when there is no
kubectl to render the base; `... sandbox-env FILE` writes the sandbox server's literal environment
(KEY=VALUE lines, no token) for the image smoke run.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import math
import os
import subprocess
import sys
from pathlib import Path

import yaml  # type: ignore[import-untyped]

from gateway.api.routes import routes
from gateway.cli import parse_args
from gateway.sandbox import server as sandbox_server
from gateway.settings import Settings
from tests.deploy.base import SECRET, Base, BaseError, Doc, load_base

PROBES = {"readinessProbe": "/readyz", "livenessProbe": "/healthz"}  # liveness: the process, never the DB
SHUTDOWN_MARGIN = 10  # after DRAIN_SECONDS: the stream cancel wait (5 s) and uvicorn's own (5 s)
SECRETS = {"DATABASE_URL", "MINIMAX_API_KEY", "GATEWAY_KEY_HASHES", "CODE_SANDBOX_TOKEN"}
GATEWAY = "minimax-gateway"  # the gateway's Deployment
SANDBOX = "minimax-gateway-sandbox"  # the code sandbox server's Deployment (sandbox.yaml)
# Under tini (PID 1): it reaps what bubblewrap leaves, as the image's ENTRYPOINT does for the gateway.
SANDBOX_COMMAND = ["tini", "--", "python", "-m", "gateway.sandbox.server"]
TOKEN = "CODE_SANDBOX_TOKEN"
# PostgreSQL's default max_connections (100) less superuser_reserved_connections (3).
DB_CONNECTIONS = 97


def _deployment(base: Base) -> Doc:
    (dep,) = [d for d in base.by("Deployment") if d["metadata"]["name"] == GATEWAY]
    return dep


def _sandbox(base: Base) -> Doc | None:
    found = [d for d in base.by("Deployment") if d["metadata"]["name"] == SANDBOX]
    return found[0] if found else None


def _labels(workload: Doc) -> dict[str, str]:
    labels: dict[str, str] = workload["spec"]["template"]["metadata"].get("labels") or {}
    return labels


def _selects(selector: dict[str, str] | None, labels: dict[str, str]) -> bool:
    """Whether a label selector (matchLabels, or a Service's selector) matches pods with `labels`."""
    return bool(selector) and all(labels.get(k) == v for k, v in (selector or {}).items())


def _services_of(base: Base, workload: Doc) -> list[Doc]:
    return [s for s in base.by("Service") if _selects(s["spec"].get("selector"), _labels(workload))]


def _env(base: Base, c: Doc) -> dict[str, str]:
    """Container `c`'s `env:` as the pod gets it: values, and Secret keys from the example Secrets."""
    env = {}
    for item in c.get("env") or []:
        ref = (item.get("valueFrom") or {}).get("secretKeyRef")
        value = base.secret_value(ref["name"], ref["key"]) if ref else item.get("value")
        if value is not None:
            env[item["name"]] = value
    return env


def _secret_ref(c: Doc, name: str) -> tuple[str, str] | None:
    for item in c.get("env") or []:
        ref = (item.get("valueFrom") or {}).get("secretKeyRef")
        if item["name"] == name and ref:
            return ref["name"], ref["key"]
    return None


def _loads(env: dict[str, str], code: str) -> str | None:
    """Run `code` (after `from gateway.settings import load`) in a process with environment `env`;
    None if it exits 0, else its stderr on one line."""
    loaded = subprocess.run(
        [sys.executable, "-c", "from gateway.settings import load\n" + code],
        env={"PATH": os.environ.get("PATH", ""), **env},
        capture_output=True,
        text=True,
        check=False,
    )
    return None if loaded.returncode == 0 else loaded.stderr.strip().replace("\n", " | ")


def _pods(base: Base) -> list[tuple[str, Doc]]:
    workloads = [*base.by("Deployment"), *base.by("Job")]
    return [(f"{d['kind']}/{d['metadata']['name']}", d["spec"]["template"]["spec"]) for d in workloads]


def _server(base: Base) -> Doc:
    container: Doc = _deployment(base)["spec"]["template"]["spec"]["containers"][0]
    return container


def _cli(base: Base, where: str, c: Doc) -> tuple[argparse.Namespace | None, list[str]]:
    """The gateway's parsed command line in container `c` (it must keep the image's ENTRYPOINT)."""
    if "command" in c and c["command"] != base.image.entrypoint:
        return None, [f"{where}: command {c['command']} replaces the image's ENTRYPOINT"]
    args = c.get("args", base.image.cmd)
    try:
        with contextlib.redirect_stderr(io.StringIO()):  # argparse's usage text: the finding says it
            return parse_args(args), []
    except SystemExit:
        return None, [f"{where}: args {args} are not a minimax-gateway command line"]


def probe_errors(base: Base) -> list[str]:
    """Readiness on /readyz, liveness on /healthz, and both are routes the app serves."""
    paths = {r.path for r in routes if "GET" in (r.methods or ())}
    errs = []
    for kind, want in PROBES.items():
        path = ((_server(base).get(kind) or {}).get("httpGet") or {}).get("path")
        if path != want:
            errs.append(f"{kind} path {path!r}: the app's {kind} is {want}")
        if path not in paths:
            errs.append(f"{kind} path {path!r} is not a GET route of the app")
    return errs


def port_errors(base: Base) -> list[str]:
    """The server listens on all interfaces, on the containerPort the image EXPOSEs and its CMD names,
    and the probes and the Service reach that port."""
    c = _server(base)
    args, errs = _cli(base, "server", c)
    if args is None:
        return errs
    port, host = args.port, args.host
    ports = {p.get("name"): p["containerPort"] for p in c.get("ports") or []}
    if host not in ("0.0.0.0", "::"):
        errs.append(f"server listens on {host}: neither the kubelet's probes nor the Service reach it")
    if port not in ports.values():
        errs.append(f"server listens on {port}, not on a containerPort {sorted(ports.values())}")
    if port not in base.image.expose:
        errs.append(f"server listens on {port}, the Dockerfile EXPOSEs {base.image.expose}")
    image_port = parse_args(base.image.cmd).port
    if image_port != port:
        errs.append(f"server listens on {port}, the image's CMD on {image_port}")
    targets = [(k, (c.get(k) or {}).get("httpGet", {}).get("port")) for k in PROBES]
    for svc in _services_of(base, _deployment(base)):
        targets += [(f"Service/{svc['metadata']['name']}", p.get("targetPort")) for p in svc["spec"]["ports"]]
    for who, target in targets:
        if ports.get(target, target) != port:
            errs.append(f"{who} targets port {target!r}, the server listens on {port}")
    return errs


def user_errors(base: Base) -> list[str]:
    """Every container runs as the Dockerfile's USER (uid, and gid when it names one)."""
    want = dict(zip(("runAsUser", "runAsGroup"), base.image.user.split(":"), strict=False))
    errs = []
    for where, pod in _pods(base):
        for c in [*(pod.get("initContainers") or []), *pod["containers"]]:
            for field, value in want.items():
                pod_value = (pod.get("securityContext") or {}).get(field)
                got = (c.get("securityContext") or {}).get(field, pod_value)
                if str(got) != value:
                    errs.append(
                        f"{where}/{c['name']}: {field} {got}, the Dockerfile's USER {base.image.user}"
                    )
    return errs


def prestop_seconds(c: Doc) -> float:
    pre = (c.get("lifecycle") or {}).get("preStop") or {}
    if "sleep" in pre:
        return float(pre["sleep"]["seconds"])
    cmd = (pre.get("exec") or {}).get("command") or []
    return float(cmd[1]) if len(cmd) == 2 and cmd[0].endswith("sleep") else 0.0


def _setting(base: Base, key: str) -> str:
    return base.config.get(key, str(Settings.model_fields[key.lower()].default))


def grace_errors(base: Base) -> list[str]:
    """preStop sleep, then SIGTERM and DRAIN_SECONDS for open streams, then shutdown: within the grace."""
    pod = _deployment(base)["spec"]["template"]["spec"]
    sleep, drain = prestop_seconds(_server(base)), float(_setting(base, "DRAIN_SECONDS"))
    grace = pod.get("terminationGracePeriodSeconds", 30)
    errs = [] if sleep > 0 else ["no preStop sleep: the pod stops before endpoints and ingresses forget it"]
    if grace < sleep + drain + SHUTDOWN_MARGIN:
        errs.append(
            f"terminationGracePeriodSeconds {grace} < preStop {sleep:g} + DRAIN_SECONDS {drain:g} + "
            f"{SHUTDOWN_MARGIN}: open streams would be killed"
        )
    return errs


def settings_errors(base: Base) -> list[str]:
    """ConfigMap and Secret keys are Settings fields, secrets stay out of the ConfigMap, and the
    environment a pod gets from both loads (what `minimax-gateway` itself does at start-up)."""
    sources = [("gateway.env", base.config), (f"Secret/{SECRET}", base.secret)]
    sources += [(f"Secret/{name}", keys) for name, keys in base.others.items()]
    errs = [
        f"{source}: {key} is not a setting (no field {key.lower()!r} in gateway.settings.Settings)"
        for source, keys in sources
        for key in keys
        if key != key.upper() or key.lower() not in Settings.model_fields
    ]
    errs += [
        f"gateway.env: {key} is a secret; it belongs in the Secret" for key in SECRETS & set(base.config)
    ]
    problem = _loads({**base.config, **base.secret, **_env(base, _server(base))}, "load()")
    if problem is not None:
        errs.append("the pod's settings do not load: " + problem)
    return errs


def migration_errors(base: Base) -> list[str]:
    """A Job and an initContainer run `minimax-gateway migrate` from the server's image, with its
    settings (the same envFrom); the server itself serves."""
    server = _server(base)
    jobs = [
        (f"Job/{job['metadata']['name']}", c)
        for job in base.by("Job")
        for c in job["spec"]["template"]["spec"]["containers"]
    ]
    pod = _deployment(base)["spec"]["template"]["spec"]
    inits = [(f"initContainer/{c['name']}", c) for c in pod.get("initContainers") or []]
    errs = [
        f"no {what} runs the migration"
        for what, found in (("Job", jobs), ("initContainer", inits))
        if not found
    ]
    for where, c in [*jobs, *inits]:
        args, found = _cli(base, where, c)
        errs += found
        if args is not None and args.command != "migrate":
            errs.append(f"{where}: runs {args.command!r}, not migrate")
        if c.get("image") != server["image"]:
            errs.append(f"{where}: image {c.get('image')} is not the server's {server['image']}")
        if c.get("envFrom") != server.get("envFrom"):
            errs.append(f"{where}: envFrom differs from the server's: it would migrate with other settings")
    args, found = _cli(base, "server", server)
    if args is not None and args.command != "serve":
        errs.append(f"server: runs {args.command!r}, not serve")
    return errs


def pool_errors(base: Base) -> list[str]:
    """Every pod's connection pool at the largest pod count, plus a migration, fits in PostgreSQL."""
    dep = _deployment(base)
    hpas = [h["spec"]["maxReplicas"] for h in base.by("HorizontalPodAutoscaler")]
    pods = max([dep["spec"].get("replicas", 1), *hpas])
    surge = dep["spec"].get("strategy", {}).get("rollingUpdate", {}).get("maxSurge", "25%")
    pods += math.ceil(pods * int(surge[:-1]) / 100) if isinstance(surge, str) else surge
    per_pod = int(_setting(base, "DB_POOL_SIZE")) + int(_setting(base, "DB_MAX_OVERFLOW"))
    jobs = len(base.by("Job"))
    need = pods * per_pod + jobs
    if need > DB_CONNECTIONS:
        return [
            f"{pods} pods x {per_pod} connections + {jobs} migration = {need} > {DB_CONNECTIONS}, what a "
            "default PostgreSQL accepts: lower DB_POOL_SIZE/DB_MAX_OVERFLOW (gateway.env)"
        ]
    return []


def sandbox_errors(base: Base) -> list[str]:
    """The code sandbox server: one pod (sessions live in it) running `python -m gateway.sandbox.server`
    on all interfaces, probed on a path it serves without the token, its sessions on a writable volume,
    reached by a Service of its own that CODE_SANDBOX_URL names and no other Service shares."""
    url = base.config.get("CODE_SANDBOX_URL")
    dep = _sandbox(base)
    if dep is None:
        return [f"CODE_SANDBOX_URL={url}, but there is no Deployment/{SANDBOX}"] if url else []
    errs = []
    if dep["spec"].get("replicas", 1) != 1:
        errs.append(
            f"{SANDBOX}: {dep['spec']['replicas']} replicas: sessions live in one pod, a second splits them"
        )
    c = dep["spec"]["template"]["spec"]["containers"][0]
    if c.get("command") != SANDBOX_COMMAND:
        errs.append(f"{SANDBOX}: command {c.get('command')}, not {SANDBOX_COMMAND}")
    try:
        with contextlib.redirect_stderr(io.StringIO()):
            args = sandbox_server.parse_args(c.get("args") or [])
    except SystemExit:
        return [*errs, f"{SANDBOX}: args {c.get('args')} are not the sandbox server's command line"]
    ports = {p.get("name"): p["containerPort"] for p in c.get("ports") or []}
    if args.host not in ("0.0.0.0", "::"):
        errs.append(f"{SANDBOX}: listens on {args.host}: neither the probes nor the gateway reach it")
    if args.port not in ports.values():
        errs.append(f"{SANDBOX}: listens on {args.port}, not on a containerPort {sorted(ports.values())}")
    targets = []
    for kind in PROBES:
        get = (c.get(kind) or {}).get("httpGet") or {}
        if get.get("path") not in sandbox_server.PUBLIC:
            errs.append(f"{SANDBOX}: {kind} on {get.get('path')!r}, not a path served without the token")
        targets.append((kind, get.get("port")))
    services = _services_of(base, dep)
    for svc in services:
        targets += [(f"Service/{svc['metadata']['name']}", p.get("targetPort")) for p in svc["spec"]["ports"]]
        if _selects(svc["spec"].get("selector"), _labels(_deployment(base))):
            errs.append(f"Service/{svc['metadata']['name']} selects the gateway's pods and the sandbox's")
    for who, target in targets:
        if ports.get(target, target) != args.port:
            errs.append(f"{SANDBOX}: {who} targets port {target!r}, the server listens on {args.port}")
    urls = {f"http://{s['metadata']['name']}:{p['port']}" for s in services for p in s["spec"]["ports"]}
    if not services:
        errs.append(f"no Service selects the pods of {SANDBOX}")
    elif (url or "").rstrip("/") not in urls:
        errs.append(
            f"gateway.env: CODE_SANDBOX_URL={url}, not the sandbox's Service ({', '.join(sorted(urls))})"
        )
    data = _env(base, c).get("CODE_SANDBOX_DIR", str(Settings.model_fields["code_sandbox_dir"].default))
    mounts = [m["mountPath"] for m in c.get("volumeMounts") or [] if not m.get("readOnly")]
    read_only = (c.get("securityContext") or {}).get("readOnlyRootFilesystem")
    if read_only and not any(Path(data).is_relative_to(m) for m in mounts):
        errs.append(f"{SANDBOX}: CODE_SANDBOX_DIR {data} is on the read-only root, not on a volume {mounts}")
    return errs


def sandbox_token_errors(base: Base) -> list[str]:
    """The gateway and the sandbox server read CODE_SANDBOX_TOKEN from the same key of a Secret that is not
    the gateway's (the sandbox's pod never references DATABASE_URL's Secret), the example shows that key,
    and the sandbox's environment has the token as the server reads it at start-up."""
    dep = _sandbox(base)
    if dep is None:
        return []
    c = dep["spec"]["template"]["spec"]["containers"][0]
    errs = [
        f"{SANDBOX}: envFrom Secret/{ref['secretRef']['name']}: the whole Secret in the sandbox's pod"
        for ref in c.get("envFrom") or []
        if "secretRef" in ref
    ]
    sandbox, gateway = _secret_ref(c, TOKEN), _secret_ref(_server(base), TOKEN)
    if sandbox is None or gateway is None:
        side = "the sandbox" if sandbox is None else "the gateway"
        return [*errs, f"{side}: {TOKEN} does not come from a Secret (env valueFrom secretKeyRef)"]
    if sandbox != gateway:
        errs.append(f"{TOKEN}: the gateway reads Secret {'/'.join(gateway)}, the sandbox {'/'.join(sandbox)}")
    if sandbox[0] == SECRET:
        errs.append(
            f"{SANDBOX}: {TOKEN} from Secret/{SECRET}, which holds DATABASE_URL: give it one of its own"
        )
    if base.secret_value(*sandbox) is None:
        errs.append(f"secret.example.yaml: no Secret {sandbox[0]} with the key {sandbox[1]}")
    check = "s = load().code_sandbox_token\nassert s is not None and s.get_secret_value().strip(), 'no token'"
    problem = _loads(_env(base, c), check)
    if problem is not None:
        errs.append(f"{SANDBOX}: its environment does not start the server: {problem}")
    return errs


def sandbox_network_errors(base: Base) -> list[str]:
    """A NetworkPolicy over the sandbox's pods denies every egress and admits only the gateway's serving
    pods (not the migration's, nor other namespaces or addresses), on the server's port only."""
    dep = _sandbox(base)
    if dep is None:
        return []
    c = dep["spec"]["template"]["spec"]["containers"][0]
    try:
        with contextlib.redirect_stderr(io.StringIO()):
            port = sandbox_server.parse_args(c.get("args") or []).port
    except SystemExit:
        port = None  # sandbox_errors says so
    named = {p.get("name"): p["containerPort"] for p in c.get("ports") or []}
    labels, gateway = _labels(dep), _labels(_deployment(base))
    policies = [
        n
        for n in base.by("NetworkPolicy")
        if _selects((n["spec"].get("podSelector") or {}).get("matchLabels"), labels)
    ]
    if not policies:
        return [f"no NetworkPolicy selects the pods of {SANDBOX}: anything may call it, and it may call out"]
    others = [
        (f"{w['kind']}/{w['metadata']['name']}", _labels(w))
        for w in [*base.by("Deployment"), *base.by("Job")]
    ]
    others = [(where, other) for where, other in others if other not in (gateway, labels)]
    types = {t for n in policies for t in n["spec"].get("policyTypes") or []}
    errs = [
        f"the sandbox's NetworkPolicies leave {t} open (policyTypes)"
        for t in ("Ingress", "Egress")
        if t not in types
    ]
    for n in policies:
        name = f"NetworkPolicy/{n['metadata']['name']}"
        if n["spec"].get("egress"):
            errs.append(f"{name} allows egress: nothing may leave the sandbox's pod")
        for rule in n["spec"].get("ingress") or []:
            if not rule.get("from"):
                errs.append(f"{name}: an ingress rule admits every source")
            for peer in rule.get("from") or []:
                selector = (peer.get("podSelector") or {}).get("matchLabels")
                if set(peer) != {"podSelector"} or set(peer["podSelector"]) != {"matchLabels"}:
                    errs.append(
                        f"{name}: admits {sorted(peer)}: only a podSelector's matchLabels are checked"
                    )
                elif not _selects(selector, gateway):
                    errs.append(f"{name}: {selector} does not admit the gateway's pods {gateway}")
                errs += [
                    f"{name}: {selector} also admits {where}'s pods"
                    for where, other in others
                    if _selects(selector, other)
                ]
            ports = [named.get(p.get("port"), p.get("port")) for p in rule.get("ports") or []]
            if not ports or any(p != port for p in ports):
                errs.append(f"{name}: admits ports {ports or 'all'}, not only the server's {port}")
    return errs


CHECKS = (
    probe_errors,
    port_errors,
    user_errors,
    grace_errors,
    settings_errors,
    migration_errors,
    pool_errors,
    sandbox_errors,
    sandbox_token_errors,
    sandbox_network_errors,
)


def check(base: Base) -> list[str]:
    """Every finding of every check (empty: deploy/ agrees with the app)."""
    return [e for run in CHECKS for e in run(base)]


def sandbox_env(base: Base) -> dict[str, str]:
    """The sandbox server container's literal `env:` (its token, from a Secret, left out): for the image
    smoke run, which runs the server as sandbox.yaml does."""
    dep = _sandbox(base)
    if dep is None:
        return {}
    container = dep["spec"]["template"]["spec"]["containers"][0]
    return {e["name"]: str(e["value"]) for e in container.get("env") or [] if "value" in e}


def main(argv: list[str]) -> int:
    try:
        base = load_base()
    except (BaseError, OSError, ValueError, yaml.YAMLError) as exc:
        print(f"FAIL deploy/ cannot be read: {exc}")
        return 1
    if argv[:1] == ["render"] and len(argv) == 2:
        Path(argv[1]).write_text(yaml.safe_dump_all(base.docs, sort_keys=False))
        return 0
    if argv[:1] == ["sandbox-env"] and len(argv) == 2:
        Path(argv[1]).write_text("".join(f"{k}={v}\n" for k, v in sandbox_env(base).items()))
        return 0
    findings = check(base)
    for finding in findings:
        print("FAIL", finding)
    print(f"deploy checks: {len(CHECKS)} checks on {len(base.docs)} objects, {len(findings)} findings")
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
