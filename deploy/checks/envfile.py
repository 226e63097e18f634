"""Read a kustomize `envs:` file as kustomize does, with the rules that keep it unambiguous.

Used by the renderer (configMapGenerator), by smoke.py (the host smoke run's environment) and by the tests.
"""

from __future__ import annotations

import re
from pathlib import Path

ENV_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def read_env_file(path: Path) -> tuple[dict[str, str], list[str]]:
    """Parse a kustomize `envs:` file as kustomize does (KEY=VALUE, whole-line `#` comments, the
    value verbatim after the first `=`), plus the rules that keep it unambiguous for every reader
    (kustomize, python-dotenv, podman --env-file): no duplicate keys, no quotes, no trailing
    comments, no surrounding blanks, no `KEY` without `=` (kustomize would read the CI's environment)."""
    data: dict[str, str] = {}
    errs: list[str] = []
    for n, raw in enumerate(path.read_text().splitlines(), 1):
        line = raw.lstrip()
        if not line or line.startswith("#"):
            continue
        where = f"{path.name}:{n}"
        if "=" not in line:
            errs.append(f"{where}: {line!r} has no '=' (kustomize would copy it from the environment)")
            continue
        key, value = line.split("=", 1)
        if not ENV_KEY.match(key):
            errs.append(f"{where}: {key!r} is not an environment variable name")
        if key in data:
            errs.append(f"{where}: duplicate key {key} (kustomize rejects it; dotenv keeps the last)")
        if value != value.strip():
            errs.append(f"{where}: {key} value has leading/trailing blanks")
        if value[:1] in ("'", '"'):
            errs.append(f"{where}: {key} value is quoted; kustomize keeps the quotes in the value")
        if re.search(r"\s#", value):
            errs.append(f"{where}: {key} value has a trailing comment; kustomize keeps it in the value")
        data[key] = value
    return data, errs
