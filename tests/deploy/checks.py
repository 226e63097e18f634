"""The deploy/ checks no tool makes: the manifests against the app, its image, its settings and its CLI.

yamllint, kubernetes-validate and checkov (`.ci/deploy-check`) cover syntax, schemas and the security
context; what only this project knows is here. `python -m tests.deploy.checks` runs them (exit 1 on a
finding); `python -m tests.deploy.checks render FILE` writes the objects for the tools when there is no
kubectl to render the base.
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

import yaml

from gateway.api.routes import routes
from gateway.cli import parse_args
from gateway.settings import Settings
from tests.deploy.base import Base, BaseError, Doc, load_base

PROBES = {"readinessProbe": "/readyz", "livenessProbe": "/healthz"}  # liveness: the process, never the DB
SHUTDOWN_MARGIN = 10  # after DRAIN_SECONDS: the stream cancel wait (5 s) and uvicorn's own (5 s)
SECRETS = {"DATABASE_URL", "MINIMAX_API_KEY", "GATEWAY_KEY_HASHES"}
# PostgreSQL's default max_connections (100) less superuser_reserved_connections (3).
DB_CONNECTIONS = 97


def _deployment(base: Base) -> Doc:
    (dep,) = base.by("Deployment")
    return dep


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
    for svc in base.by("Service"):
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
    errs = [
        f"{source}: {key} is not a setting (no field {key.lower()!r} in gateway.settings.Settings)"
        for source, keys in (("gateway.env", base.config), ("Secret", base.secret))
        for key in keys
        if key != key.upper() or key.lower() not in Settings.model_fields
    ]
    errs += [
        f"gateway.env: {key} is a secret; it belongs in the Secret" for key in SECRETS & set(base.config)
    ]
    env = {"PATH": os.environ.get("PATH", ""), **base.config, **base.secret}
    loaded = subprocess.run(
        [sys.executable, "-c", "from gateway.settings import load; load()"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if loaded.returncode != 0:
        errs.append("the pod's settings do not load: " + loaded.stderr.strip().replace("\n", " | "))
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


CHECKS = (
    probe_errors,
    port_errors,
    user_errors,
    grace_errors,
    settings_errors,
    migration_errors,
    pool_errors,
)


def check(base: Base) -> list[str]:
    """Every finding of every check (empty: deploy/ agrees with the app)."""
    return [e for run in CHECKS for e in run(base)]


def main(argv: list[str]) -> int:
    try:
        base = load_base()
    except (BaseError, OSError, ValueError, yaml.YAMLError) as exc:
        print(f"FAIL deploy/ cannot be read: {exc}")
        return 1
    if argv[:1] == ["render"] and len(argv) == 2:
        Path(argv[1]).write_text(yaml.safe_dump_all(base.docs, sort_keys=False))
        return 0
    findings = check(base)
    for finding in findings:
        print("FAIL", finding)
    print(f"deploy checks: {len(CHECKS)} checks on {len(base.docs)} objects, {len(findings)} findings")
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
