"""What the image is, read from deploy/Dockerfile: USER, EXPOSE, exec-form ENTRYPOINT + CMD, and their rules.

The container checks compare these facts with the Deployment (uid, port, command).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def dockerfile_facts(path: Path) -> dict[str, Any]:
    """USER, EXPOSE and the exec-form ENTRYPOINT + CMD of the Dockerfile's last stage."""
    lines, buf = [], ""
    for raw in path.read_text().splitlines():
        if raw.strip().startswith("#") and not buf:
            continue
        buf += raw.rstrip("\\").strip() + " "
        if not raw.rstrip().endswith("\\"):
            lines.append(buf.strip())
            buf = ""
    facts: dict[str, Any] = {"user": None, "expose": [], "entrypoint": None, "cmd": None, "errors": []}
    for line in lines:
        instr, _, rest = line.partition(" ")
        instr = instr.upper()
        if instr == "FROM":  # a new stage: only the last one is the image
            facts.update(user=None, expose=[], entrypoint=None, cmd=None)
        elif instr == "USER":
            facts["user"] = rest.strip()
        elif instr == "EXPOSE":
            facts["expose"] += [int(p.split("/")[0]) for p in rest.split()]
        elif instr in ("ENTRYPOINT", "CMD"):
            try:
                value = json.loads(rest)
            except ValueError:
                value = None
            if not isinstance(value, list):
                facts["errors"].append(f"Dockerfile: {instr} is not exec form (SIGTERM would hit a shell)")
            facts[instr.lower()] = value
    return facts


def image_errors(docker: dict[str, Any]) -> list[str]:
    """The Dockerfile's own problems: a shell-form ENTRYPOINT/CMD, or no numeric non-root USER."""
    errs = list(docker["errors"])
    if docker["user"] is None or docker["user"].split(":")[0] in ("", "0", "root"):
        errs.append(
            f"Dockerfile: the image runs as {docker['user'] or 'root'}; it must set a numeric non-root USER"
        )
    return errs


def image_command(docker: dict[str, Any]) -> list[str]:
    """The image's command line: ENTRYPOINT + CMD."""
    return (docker["entrypoint"] or []) + (docker["cmd"] or [])
