"""deploy/ as the checks read it: the kustomization's objects, its settings, the example Secret, the image.

No renderer of kustomize's own: the objects are the `resources:` files as written plus the generated
ConfigMap under its unhashed name (every reference to it uses that name too). CI validates what
`kubectl kustomize` renders where kubectl exists, and this assembly where it does not.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml  # type: ignore[import-untyped]

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
Doc = dict[str, Any]
ENV_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
SECRET = "minimax-gateway"  # the gateway's Secret (envFrom); secret.example.yaml may show others after it


class BaseError(Exception):
    """deploy/ cannot be read: a kustomization feature not understood here, or an unusable env file."""


@dataclass(frozen=True)
class Image:
    """The last stage of deploy/Dockerfile: USER, EXPOSEd ports, exec-form ENTRYPOINT and CMD."""

    user: str
    expose: list[int]
    entrypoint: list[str]
    cmd: list[str]


@dataclass(frozen=True)
class Base:
    docs: list[Doc]  # the kustomization's objects, the generated ConfigMap last
    config: dict[str, str]  # gateway.env: the ConfigMap's data
    secret: dict[str, str]  # the keys of secret.example.yaml's `SECRET`: what the gateway's real Secret holds
    image: Image
    others: dict[str, dict[str, str]] = field(default_factory=dict)  # its other Secrets, by name

    def secret_value(self, name: str, key: str) -> str | None:
        """A key of one of the example Secrets (what a `secretKeyRef` would read), or None."""
        return (self.secret if name == SECRET else self.others.get(name, {})).get(key)

    def by(self, kind: str) -> list[Doc]:
        return [d for d in self.docs if d.get("kind") == kind]


def read_env_file(path: Path) -> dict[str, str]:
    """A kustomize `envs:` file: KEY=VALUE lines and whole-line comments. What kustomize would turn into
    a different value than the one written (quotes, trailing comments) or read from the environment of
    whoever applies it (a line without `=`) is refused, and so is a key set twice."""
    data: dict[str, str] = {}
    errors = []
    for n, raw in enumerate(path.read_text().splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        where = f"{path.name}:{n}: {key}"
        if not sep or not ENV_KEY.match(key):
            errors.append(f"{path.name}:{n}: {line!r} is not KEY=VALUE")
        elif key in data:
            errors.append(f"{where} is set twice")
        elif value[:1] in ("'", '"') or re.search(r"\s#", value):
            errors.append(f"{where}: quotes and trailing comments would end up in the value")
        data[key] = value
    if errors:
        raise BaseError("; ".join(errors))
    return data


def read_dockerfile(path: Path) -> Image:
    """USER, EXPOSE, ENTRYPOINT and CMD of the last stage (hadolint makes sure they are exec form)."""
    text = re.sub(r"\\\n", " ", path.read_text())
    found: dict[str, Any] = {}
    for line in text.splitlines():
        instr, _, rest = line.strip().partition(" ")
        instr = instr.upper()
        if instr == "FROM":
            found = {"EXPOSE": []}
        elif instr in ("ENTRYPOINT", "CMD"):
            found[instr] = json.loads(rest)
        elif instr == "EXPOSE":
            found[instr] += [int(p.split("/")[0]) for p in rest.split()]
        elif instr == "USER":
            found[instr] = rest.strip()
    return Image(found.get("USER", "0"), found["EXPOSE"], found.get("ENTRYPOINT", []), found.get("CMD", []))


def load_base(deploy: Path = DEPLOY) -> Base:
    (kust,) = yaml.safe_load_all((deploy / "kustomization.yaml").read_text())
    unknown = set(kust) - {"apiVersion", "kind", "resources", "configMapGenerator"}
    if unknown:
        raise BaseError(f"kustomization.yaml uses {sorted(unknown)}: teach tests/deploy/base.py")
    docs = [d for res in kust["resources"] for d in yaml.safe_load_all((deploy / res).read_text()) if d]
    (gen,) = kust["configMapGenerator"]
    (env,) = gen["envs"]
    config = read_env_file(deploy / env)
    meta = {"name": gen["name"], "labels": (gen.get("options") or {}).get("labels", {})}
    docs.append({"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": config})
    secrets = {
        doc["metadata"]["name"]: {k: str(v) for k, v in doc["stringData"].items()}
        for doc in yaml.safe_load_all((deploy / "secret.example.yaml").read_text())
        if doc
    }
    if SECRET not in secrets:
        raise BaseError(f"secret.example.yaml shows no Secret {SECRET!r}")
    image = read_dockerfile(deploy / "Dockerfile")
    gateway = secrets.pop(SECRET)
    return Base(docs, config, gateway, image, secrets)
