"""Invariants of what serves, protects and scales a Deployment's pods: Services, PDBs and HPAs."""

from __future__ import annotations

from facts import Facts, pod_labels, selects
from yamlload import Doc


def service_port_errors(facts: Facts, dep: Doc) -> list[str]:
    """Each Service that selects the Deployment's pods targets their ports, by named ports."""
    errs: list[str] = []
    where = f"Deployment/{dep['metadata']['name']}"
    pod = dep["spec"]["template"]["spec"]
    for svc in facts.by("Service"):
        sw = f"Service/{svc['metadata']['name']}"
        if selects(svc["spec"].get("selector") or {}, pod_labels(dep)):
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
    return errs


def pdb_errors(facts: Facts, dep: Doc) -> list[str]:
    """A PodDisruptionBudget selects the pods and leaves room for evictions at the lowest replica count."""
    errs: list[str] = []
    n = dep["metadata"]["name"]
    labels = pod_labels(dep)
    hpa_min = [
        h["spec"].get("minReplicas", 1)
        for h in facts.by("HorizontalPodAutoscaler")
        if h["spec"]["scaleTargetRef"].get("name") == n
    ]
    floor = min([dep["spec"].get("replicas", 1), *hpa_min])
    pdbs = facts.by("PodDisruptionBudget")
    for pdb in pdbs:
        pw = f"PodDisruptionBudget/{pdb['metadata']['name']}"
        if not selects((pdb["spec"].get("selector") or {}).get("matchLabels") or {}, labels):
            continue
        ma, mu = pdb["spec"].get("minAvailable"), pdb["spec"].get("maxUnavailable")
        if isinstance(ma, int) and ma >= floor:
            errs.append(f"{pw}: minAvailable {ma} >= {floor} replicas: node drains would block")
        if mu in (0, "0%") or ma in ("100%",):
            errs.append(f"{pw}: allows no disruption: node drains would block")
        if floor < 2:
            errs.append(f"{pw}: with {floor} replica(s) any eviction is an outage; run >= 2")
    if not any(selects((p["spec"].get("selector") or {}).get("matchLabels") or {}, labels) for p in pdbs):
        errs.append(f"Deployment/{n}: no PodDisruptionBudget selects its pods")
    return errs


def service_errors(facts: Facts) -> list[str]:
    """Every Service selects some Deployment's pods and stays inside the cluster (ClusterIP)."""
    errs: list[str] = []
    deployments = facts.by("Deployment")
    for svc in facts.by("Service"):
        s = svc["spec"].get("selector") or {}
        if s and not any(selects(s, pod_labels(d)) for d in deployments):
            errs.append(f"Service/{svc['metadata']['name']}: selector {s} matches no Deployment's pods")
        if svc["spec"].get("type", "ClusterIP") != "ClusterIP":
            errs.append(
                f"Service/{svc['metadata']['name']}: type must be ClusterIP (expose through an ingress)"
            )
    return errs


def hpa_errors(facts: Facts) -> list[str]:
    """Every HPA targets a defined object, min <= replicas <= max, and has the requests it scales on."""
    errs: list[str] = []
    for hpa in facts.by("HorizontalPodAutoscaler"):
        hw, s = f"HorizontalPodAutoscaler/{hpa['metadata']['name']}", hpa["spec"]
        t = s["scaleTargetRef"]
        target = facts.names.get((t.get("kind", ""), t.get("name", "")))
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
