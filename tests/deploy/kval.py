"""kubernetes-validate, strict, through its Python API: its CLI exits 0 on a removed or unknown apiVersion.

    python -m tests.deploy.kval --versions 1.30 1.37 --files RENDERED.yaml deploy/secret.example.yaml

Needs the `kubernetes-validate` package (`.ci/deploy-check` installs it in its tools venv).
"""

from __future__ import annotations

import argparse
import copy
import sys
from pathlib import Path

import kubernetes_validate
import yaml  # type: ignore[import-untyped]


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.deploy.kval")
    parser.add_argument("--versions", nargs="+", required=True)
    parser.add_argument("--files", nargs="+", type=Path, required=True)
    args = parser.parse_args(argv)
    docs = [(path.name, d) for path in args.files for d in yaml.safe_load_all(path.read_text()) if d]
    failures = 0
    for version in args.versions:
        for name, doc in docs:
            try:
                kubernetes_validate.validate(copy.deepcopy(doc), version, strict=True)
            except Exception as exc:  # ValidationError, SchemaNotFoundError (apiVersion not served), ...
                failures += 1
                at = ".".join(str(p) for p in getattr(exc, "path", []))
                what = f"{doc.get('apiVersion')} {doc.get('kind')}/{(doc.get('metadata') or {}).get('name')}"
                print(f"FAIL k8s {version}: {name}: {what} {at}: {type(exc).__name__}: {exc}")
    print(f"kubernetes-validate --strict {' '.join(args.versions)}: {len(docs)} objects, {failures} failures")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
