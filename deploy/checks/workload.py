"""Invariants of each Deployment and its pod template: selector, rollout, scheduling, references, containers.

The per-container checks are in container.py; what points at the pods (Service, PDB, HPA) in availability.py.
"""

from __future__ import annotations

from container import container_errors
from facts import Facts, pod_labels, selects
from yamlload import Doc


def deployment_errors(facts: Facts, dep: Doc) -> list[str]:
    """Every broken invariant of Deployment `dep`, its pod template and its containers."""
    where = f"Deployment/{dep['metadata']['name']}"
    errs = _rollout_errors(where, dep)
    pod = dep["spec"]["template"]["spec"]
    errs += _pod_errors(facts, where, pod, pod_labels(dep))
    errs += _volume_errors(facts, where, pod)
    for c in pod.get("containers") or []:
        errs += container_errors(facts, where, pod, c)
    return errs


def _rollout_errors(where: str, dep: Doc) -> list[str]:
    """The selector matches the template; a rolling update that keeps capacity and can progress."""
    errs: list[str] = []
    spec = dep["spec"]
    labels = pod_labels(dep)
    sel = spec.get("selector") or {}
    if set(sel) - {"matchLabels"}:
        errs.append(
            f"{where}: only selector.matchLabels is checked; {sorted(set(sel) - {'matchLabels'})} is not"
        )
    if not selects(sel.get("matchLabels") or {}, labels):
        errs.append(f"{where}: selector {sel.get('matchLabels')} does not match template labels {labels}")
    strategy = spec.get("strategy") or {}
    ru = strategy.get("rollingUpdate") or {}
    if strategy.get("type", "RollingUpdate") != "RollingUpdate" or ru.get("maxUnavailable") not in (0, "0%"):
        errs.append(f"{where}: strategy must be RollingUpdate with maxUnavailable 0 (no capacity lost)")
    if ru.get("maxSurge", "25%") in (0, "0%"):
        errs.append(f"{where}: maxSurge 0 with maxUnavailable 0 can never roll (the apiserver rejects it)")
    return errs


def _pod_errors(facts: Facts, where: str, pod: Doc, labels: dict[str, str]) -> list[str]:
    """No API token, a defined ServiceAccount, and replicas spread over nodes by selectors of their own."""
    errs: list[str] = []
    if pod.get("automountServiceAccountToken") is not False:
        errs.append(f"{where}: automountServiceAccountToken must be false (the gateway calls no k8s API)")
    sa = pod.get("serviceAccountName", "default")
    if sa != "default" and ("ServiceAccount", sa) not in facts.names:
        errs.append(f"{where}: serviceAccountName {sa!r} is not defined")
    for tsc in pod.get("topologySpreadConstraints") or []:
        if not selects((tsc.get("labelSelector") or {}).get("matchLabels") or {}, labels):
            errs.append(
                f"{where}: topologySpreadConstraint on {tsc.get('topologyKey')} selects no pod of its own"
            )
    anti = (pod.get("affinity") or {}).get("podAntiAffinity") or {}
    terms = [t.get("podAffinityTerm", t) for k in anti for t in anti[k]]
    for term in terms:
        if not selects((term.get("labelSelector") or {}).get("matchLabels") or {}, labels):
            errs.append(f"{where}: podAntiAffinity term selects no pod of its own")
    if not pod.get("topologySpreadConstraints") and not terms:
        errs.append(f"{where}: no topologySpreadConstraints or podAntiAffinity: replicas may share a node")
    return errs


def _volume_errors(facts: Facts, where: str, pod: Doc) -> list[str]:
    """Secret and ConfigMap volumes name objects that are defined, or are optional."""
    errs: list[str] = []
    volumes = {v["name"]: v for v in pod.get("volumes") or []}
    for vol in volumes.values():
        ref = vol.get("secret") or {}
        if ref and not ref.get("optional") and ref.get("secretName") not in facts.secrets:
            errs.append(
                f"{where}: volume {vol['name']} needs Secret {ref.get('secretName')!r}: "
                "neither defined nor optional"
            )
        ref = vol.get("configMap") or {}
        if ref and not ref.get("optional") and ("ConfigMap", ref.get("name")) not in facts.names:
            errs.append(f"{where}: volume {vol['name']} needs ConfigMap {ref.get('name')!r}, not defined")
    return errs
