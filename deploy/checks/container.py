"""Invariants of each container of a Deployment: ports, probes, resources, references, security, shutdown.

The container must agree with the image (dockerfile.py), the app (its routes and settings) and its pod.
"""

from __future__ import annotations

import re
import shlex

from dockerfile import image_command
from facts import Facts
from quantity import quantity
from yamlload import Doc

# The app contract (README of deploy/): probe paths and the seconds uvicorn + the stream cancel wait
# may take after DRAIN_SECONDS (lifecycle.drain waits 5 s for cancelled streams, uvicorn 5 s more).
LIVENESS_PATH = "/healthz"
READINESS_PATH = "/readyz"
SHUTDOWN_MARGIN = 10
PORT_NAME = re.compile(r"^(?=.*[a-z])[a-z0-9]([a-z0-9-]*[a-z0-9])?$")


def prestop_seconds(container: Doc) -> int:
    """How long the container's preStop hook sleeps (0: no sleep it can recognise)."""
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


def container_errors(facts: Facts, where: str, pod: Doc, c: Doc) -> list[str]:
    """Every broken invariant of container `c` of the pod template `pod` of `where` (a Deployment)."""
    cw = f"{where}/{c['name']}"
    ports = {p.get("name"): p["containerPort"] for p in c.get("ports") or []}
    return [
        *_port_errors(facts, cw, c, ports),
        *_probe_errors(facts, cw, c, ports),
        *_resource_errors(cw, c),
        *_reference_errors(facts, cw, c),
        *_security_errors(facts, cw, c, pod),
        *_filesystem_errors(facts, cw, c, pod),
        *_shutdown_errors(facts, where, cw, c, pod),
    ]


def _port_errors(facts: Facts, cw: str, c: Doc, ports: dict[str | None, int]) -> list[str]:
    """Port names are valid and unique; the gateway listens on a containerPort the image EXPOSEs."""
    errs: list[str] = []
    docker = facts.docker
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
    image_port = _cli_port(image_command(docker))
    if image_port is not None and image_port != port:
        errs.append(f"{cw}: args port {port} differs from the image's CMD port {image_port}")
    return errs


def _probe_errors(facts: Facts, cw: str, c: Doc, ports: dict[str | None, int]) -> list[str]:
    """Readiness on /readyz and liveness on /healthz, routes of the app, on a port of the container."""
    errs: list[str] = []
    for kind, want in (("readinessProbe", READINESS_PATH), ("livenessProbe", LIVENESS_PATH)):
        probe = c.get(kind)
        if not probe:
            errs.append(f"{cw}: no {kind}")
            continue
        hg = probe.get("httpGet") or {}
        if hg.get("path") != want:
            errs.append(f"{cw}: {kind} path {hg.get('path')!r}, the app's contract is {want!r}")
        if facts.app_paths and hg.get("path") not in facts.app_paths:
            errs.append(f"{cw}: {kind} path {hg.get('path')!r} is not a route of the app")
        pp = hg.get("port")
        if isinstance(pp, str) and pp not in ports:
            errs.append(f"{cw}: {kind} port {pp!r} is not a named container port")
        if isinstance(pp, int) and pp not in ports.values():
            errs.append(f"{cw}: {kind} port {pp} is not a container port")
    return errs


def _resource_errors(cw: str, c: Doc) -> list[str]:
    """Valid quantities, and requests <= limits for both cpu and memory."""
    errs: list[str] = []
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
    return errs


def _reference_errors(facts: Facts, cw: str, c: Doc) -> list[str]:
    """envFrom names a defined (or optional) ConfigMap or Secret, unprefixed; the image is pinned."""
    errs: list[str] = []
    for ef in c.get("envFrom") or []:
        ref = ef.get("configMapRef")
        if ref and ("ConfigMap", ref.get("name")) not in facts.names and not ref.get("optional"):
            errs.append(f"{cw}: envFrom ConfigMap {ref.get('name')!r} is not defined")
        ref = ef.get("secretRef")
        if ref and ref.get("name") not in facts.secrets and not ref.get("optional"):
            errs.append(f"{cw}: envFrom Secret {ref.get('name')!r} is neither defined nor optional")
        if ef.get("prefix"):
            errs.append(f"{cw}: envFrom prefix {ef['prefix']!r} would hide the settings from the app")
    image = c.get("image", "")
    if "@sha256:" not in image and (":" not in image.rsplit("/", 1)[-1] or image.endswith(":latest")):
        errs.append(f"{cw}: image {image!r} is not pinned to a tag or digest")
    return errs


def _security_errors(facts: Facts, cw: str, c: Doc, pod: Doc) -> list[str]:
    """securityContext: what the image was built for (uid 10001, non-root, no privileges)."""
    errs: list[str] = []
    docker = facts.docker
    csc = c.get("securityContext") or {}
    psc = pod.get("securityContext") or {}
    uid = csc.get("runAsUser", psc.get("runAsUser"))
    if not csc.get("runAsNonRoot", psc.get("runAsNonRoot")):
        errs.append(f"{cw}: runAsNonRoot must be true")
    if docker["user"] and str(uid) != docker["user"].split(":")[0]:
        errs.append(f"{cw}: runAsUser {uid} differs from the Dockerfile's USER {docker['user']}")
    if csc.get("allowPrivilegeEscalation") is not False:
        errs.append(f"{cw}: allowPrivilegeEscalation must be false")
    if "ALL" not in ((csc.get("capabilities") or {}).get("drop") or []):
        errs.append(f"{cw}: capabilities must drop ALL")
    if ((csc.get("seccompProfile") or psc.get("seccompProfile") or {}).get("type")) != "RuntimeDefault":
        errs.append(f"{cw}: seccompProfile must be RuntimeDefault")
    return errs


def _filesystem_errors(facts: Facts, cw: str, c: Doc, pod: Doc) -> list[str]:
    """Mounts have volumes; a read-only root with an emptyDir /tmp; the key-hash file is mounted."""
    errs: list[str] = []
    csc = c.get("securityContext") or {}
    volumes = {v["name"]: v for v in pod.get("volumes") or []}
    mounts = {m["mountPath"]: m for m in c.get("volumeMounts") or []}
    for m in mounts.values():
        if m["name"] not in volumes:
            errs.append(f"{cw}: volumeMount {m['name']!r} has no volume")
    if csc.get("readOnlyRootFilesystem") is not True:
        errs.append(f"{cw}: readOnlyRootFilesystem must be true")
    elif "emptyDir" not in volumes.get((mounts.get("/tmp") or {}).get("name", ""), {}):
        errs.append(f"{cw}: read-only root filesystem needs an emptyDir at /tmp")
    keyfile = facts.settings.get("GATEWAY_KEY_HASHES_FILE")
    if keyfile and not any(keyfile.startswith(p.rstrip("/") + "/") for p in mounts):
        errs.append(f"{cw}: GATEWAY_KEY_HASHES_FILE={keyfile} is under no volumeMount")
    return errs


def _shutdown_errors(facts: Facts, where: str, cw: str, c: Doc, pod: Doc) -> list[str]:
    """preStop sleep, then SIGTERM and DRAIN_SECONDS for open streams, then exit: all within the grace."""
    errs: list[str] = []
    grace = pod.get("terminationGracePeriodSeconds", 30)
    sleep = prestop_seconds(c)
    if sleep <= 0:
        errs.append(f"{cw}: no preStop sleep: the pod would stop before endpoints/ingresses forget it")
    if grace < sleep + facts.drain + SHUTDOWN_MARGIN:
        errs.append(
            f"{where}: terminationGracePeriodSeconds {grace} < preStop sleep {sleep} + DRAIN_SECONDS "
            f"{facts.drain:g} + {SHUTDOWN_MARGIN} s shutdown margin: open SSE streams would be SIGKILLed"
        )
    return errs
