"""The cross-object invariants of the rendered base: check() gathers the shared facts, runs each subject.

What an apiserver's Go validation or the running cluster would catch and a JSON schema cannot. The
subjects, in the order their findings are reported: objects.py (identities), dockerfile.py (the image),
appsettings.py (ConfigMap and Secret vs Settings), workload.py and container.py (each Deployment),
availability.py (Services, PodDisruptionBudgets, HPAs).
"""

from __future__ import annotations

from pathlib import Path

from appsettings import config_errors, limit_errors, setting
from availability import hpa_errors, pdb_errors, service_errors, service_port_errors
from dockerfile import dockerfile_facts, image_errors
from facts import Facts
from objects import object_errors
from workload import deployment_errors
from yamlload import Doc

REPO = Path(__file__).resolve().parents[2]


def _app_paths() -> set[str]:
    from gateway.api.routes import routes

    return {r.path for r in routes}


def check(docs: list[Doc], secret_examples: list[Doc] | None = None, repo: Path = REPO) -> list[str]:
    """Return every broken invariant of the rendered base (empty: all hold). `secret_examples`: Secrets
    kept out of the kustomization (the example) whose keys are checked and whose names count as defined."""
    secret_examples = secret_examples or []
    names, errs = object_errors(docs)
    secret_docs = [*(d for d in docs if d.get("kind") == "Secret"), *secret_examples]
    secrets = {(d["metadata"]["name"]) for d in secret_docs}
    docker = dockerfile_facts(repo / "deploy" / "Dockerfile")
    errs += image_errors(docker)

    try:
        app_paths = _app_paths()
    except Exception as exc:
        app_paths = set()
        errs.append(f"cannot import the app's routes to check probe paths: {exc}")

    configmaps = [d for d in docs if d.get("kind") == "ConfigMap"]
    settings, setting_errs = config_errors(configmaps, secret_docs)
    errs += setting_errs
    drain = float(setting(settings, "DRAIN_SECONDS"))
    errs += limit_errors(settings)
    facts = Facts(docs, names, secrets, docker, app_paths, settings, drain)

    deployments = facts.by("Deployment")
    if not deployments:
        errs.append("no Deployment in the base")
    for dep in deployments:
        errs += deployment_errors(facts, dep)
        errs += service_port_errors(facts, dep)
        errs += pdb_errors(facts, dep)
    errs += service_errors(facts)
    errs += hpa_errors(facts)
    return errs
