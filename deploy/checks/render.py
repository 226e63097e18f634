"""Render the kustomize base in deploy/ as `kubectl kustomize deploy/` would (order aside).

It understands exactly what deploy/kustomization.yaml uses (plain `resources:` files and
`configMapGenerator:` from env files) and refuses anything else, so it cannot silently diverge;
where kubectl exists, `manifests.py parity` proves its output equals kustomize's.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path

from envfile import read_env_file
from yamlload import Doc, load_yaml_docs

DEPLOY = Path(__file__).resolve().parents[1]


class RenderError(Exception):
    pass


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
