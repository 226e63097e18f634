"""Strict YAML loading for the deploy/ checks: every document of a file, duplicate keys refused.

PyYAML keeps the last of two equal keys silently; so does kubectl. Here they are an error.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

Doc = dict[str, Any]


class _StrictLoader(yaml.SafeLoader):
    pass


def _mapping_without_duplicates(loader: yaml.SafeLoader, node: yaml.MappingNode, deep: bool = False) -> Any:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
        seen.add(key)
    return loader.construct_mapping(node, deep=deep)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping_without_duplicates)


def load_yaml_docs(path: Path) -> list[Doc]:
    """Every non-empty document of a YAML file; duplicate keys are an error."""
    with path.open() as f:
        return [d for d in yaml.load_all(f, Loader=_StrictLoader) if d is not None]
