"""Command-line entry of the offline deploy/ checks, and the one module their callers import.

The checks render the kustomize base, then test the cross-object invariants that a JSON-schema
validator cannot see (an apiserver's Go validation, or the cluster, would catch them).

Used two ways, so a broken manifest fails both:
  * `.ci/deploy-check` runs it as a script (subcommands below) in its own tools venv;
  * `tests/deploy/test_manifests.py` imports it (needs only PyYAML and the gateway package).

    python deploy/checks/manifests.py render [--out FILE]    # the base, as `kubectl kustomize` would
    python deploy/checks/manifests.py invariants             # cross-object + app-contract checks
    python deploy/checks/manifests.py parity RENDERED.yaml   # our renderer == kubectl kustomize
    python deploy/checks/manifests.py kval 1.30 1.37         # kubernetes-validate, strict, per version

The work is done by its sibling modules (imported by plain name, so this directory goes on sys.path):
yamlload.py (strict YAML), envfile.py and render.py (the renderer), invariants.py (check(), which runs
objects.py, dockerfile.py, appsettings.py, workload.py, container.py and availability.py).
"""

# ruff: noqa: T201  (a CLI: it prints its findings)
from __future__ import annotations

import argparse
import copy
import json
import re
import sys
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the siblings, also when loaded by file path

from appsettings import MAX_KEEPALIVE, SECRET_SETTINGS, key_errors, settings_errors
from container import LIVENESS_PATH, READINESS_PATH, SHUTDOWN_MARGIN
from container import prestop_seconds as _prestop_seconds  # its name here before the split
from dockerfile import dockerfile_facts
from envfile import read_env_file
from invariants import REPO, check
from objects import API_VERSIONS
from quantity import quantity
from render import DEPLOY, RenderError, kustomize_hash, render
from yamlload import Doc, load_yaml_docs

__all__ = [
    "API_VERSIONS",
    "DEPLOY",
    "LIVENESS_PATH",
    "MAX_KEEPALIVE",
    "READINESS_PATH",
    "REPO",
    "SECRET_SETTINGS",
    "SHUTDOWN_MARGIN",
    "Doc",
    "RenderError",
    "_prestop_seconds",
    "check",
    "dockerfile_facts",
    "key_errors",
    "kustomize_hash",
    "load_yaml_docs",
    "main",
    "quantity",
    "read_env_file",
    "render",
    "settings_errors",
]


def _canonical(docs: list[Doc], generated: list[str]) -> tuple[dict[tuple[str, str], str], set[str]]:
    """Objects by (kind, name) as canonical JSON, with the generated ConfigMaps' hash suffixes taken
    out (they depend on the kustomize version); also returns the suffixed names seen."""
    alternatives = "|".join(map(re.escape, generated))
    pattern = re.compile(r"\b(" + alternatives + r")-[a-z0-9]{10}\b") if generated else None
    out, seen = {}, set()
    for d in docs:
        text = json.dumps(d, sort_keys=True)
        if pattern:
            seen |= {m.group(0) for m in pattern.finditer(text)}
            text = pattern.sub(r"\1", text)
        obj = json.loads(text)
        out[(obj["kind"], obj["metadata"]["name"])] = text
    return out, seen


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="manifests.py")
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("render")
    r.add_argument("--out", type=Path)
    sub.add_parser("invariants")
    par = sub.add_parser("parity")
    par.add_argument("kubectl_output", type=Path)
    kv = sub.add_parser("kval")
    kv.add_argument("versions", nargs="+")
    kv.add_argument("--files", nargs="+", type=Path, required=True)
    args = p.parse_args(argv)
    try:
        return _run(args)
    except (RenderError, yaml.YAMLError, OSError) as exc:
        print(f"FAIL {args.cmd}: {type(exc).__name__}: {exc}")
        return 1


def _run(args: argparse.Namespace) -> int:
    if args.cmd == "render":
        text = yaml.safe_dump_all(render(), sort_keys=True)
        if args.out:
            args.out.write_text(text)
        else:
            sys.stdout.write(text)
        return 0
    if args.cmd == "invariants":
        docs = render()
        examples = load_yaml_docs(DEPLOY / "secret.example.yaml")
        problems = check(docs, examples)
        for e in problems:
            print("FAIL", e)
        print(f"invariants: {len(docs)} objects (+{len(examples)} example), {len(problems)} problems")
        return 1 if problems else 0
    if args.cmd == "parity":
        (kust,) = load_yaml_docs(DEPLOY / "kustomization.yaml")
        generated = [g["name"] for g in kust.get("configMapGenerator") or []]
        ours, our_names = _canonical(render(), generated)
        theirs, their_names = _canonical(load_yaml_docs(args.kubectl_output), generated)
        diff = sorted(set(ours) ^ set(theirs))
        diff += sorted(k for k in ours.keys() & theirs.keys() if ours[k] != theirs[k])
        for k in diff:
            print(f"FAIL renderer differs from kubectl kustomize on {k[0]}/{k[1]}")
        if our_names != their_names:  # a different kustomize version may hash differently: harmless
            print(f"note: generated names differ: ours {sorted(our_names)}, kubectl's {sorted(their_names)}")
        print(f"parity: {len(theirs)} objects from kubectl, {len(diff)} differences")
        return 1 if diff else 0
    if args.cmd == "kval":
        import kubernetes_validate as kval  # only in the CI tools venv

        bad = total = 0
        files = [(path, load_yaml_docs(path)) for path in args.files]
        for version in args.versions:
            for path, docs in files:
                for d in docs:
                    total += 1
                    try:
                        kval.validate(copy.deepcopy(d), version, strict=True)
                    except Exception as exc:  # SchemaNotFoundError for removed apiVersions, ValidationError
                        bad += 1
                        msg = getattr(exc, "message", "") or str(exc) or "no schema (removed apiVersion?)"
                        at = ".".join(str(x) for x in getattr(exc, "path", []))
                        name = (d.get("metadata") or {}).get("name")
                        print(
                            f"FAIL k8s {version}: {path.name}: {d.get('apiVersion')} {d.get('kind')}/{name} "
                            f"{at}: {type(exc).__name__}: {msg}"
                        )
        print(f"kubernetes-validate (strict) {' '.join(args.versions)}: {total} checks, {bad} failures")
        return 1 if bad else 0
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
