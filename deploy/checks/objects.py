"""Invariants of each object's identity: defined once, a served GA apiVersion, a valid name."""

from __future__ import annotations

import re

from yamlload import Doc

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
DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
DNS1035_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")


def object_errors(docs: list[Doc]) -> tuple[dict[tuple[str, str], Doc], list[str]]:
    """Every object by (kind, name), and the problems of their identities."""
    errs: list[str] = []
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
    return names, errs
