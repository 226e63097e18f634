"""What every subject's invariant checks share: the objects, the image, the app's routes and settings.

Built once by invariants.check(); also the label matching that every selector check uses.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from yamlload import Doc


@dataclass(frozen=True)
class Facts:
    docs: list[Doc]  # the rendered base
    names: dict[tuple[str, str], Doc]  # every object by (kind, name)
    secrets: set[str]  # Secret names that count as defined (the base's and the example's)
    docker: dict[str, Any]  # dockerfile.dockerfile_facts() of deploy/Dockerfile
    app_paths: set[str]  # the app's routes (empty if they could not be imported)
    settings: dict[str, str]  # what the ConfigMaps set
    drain: float  # DRAIN_SECONDS, set or default

    def by(self, kind: str) -> list[Doc]:
        return [d for d in self.docs if d.get("kind") == kind]


def selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return bool(selector) and selector.items() <= labels.items()


def pod_labels(deployment: Doc) -> dict[str, str]:
    """The labels of a Deployment's pod template."""
    return (deployment["spec"]["template"].get("metadata") or {}).get("labels") or {}
