"""OpenAI's attribute filters for vector-store search, and the validation of file `attributes`.

A vector store file carries `attributes`: at most 16 keys of at most 64 characters, each value a string
(at most 512 characters), a number or a boolean. A search's `filters` is a comparison

    {"type": "eq" | "ne" | "gt" | "gte" | "lt" | "lte" | "in" | "nin", "key": str, "value": ...}

or a compound `{"type": "and" | "or", "filters": [comparison or compound, ...]}`, nested.

Matching, per comparison:
- Values have three kinds: string, number and boolean. A boolean is not a number (`true` does not
  equal `1`); integers and decimals are one kind (`1` equals `1.0`).
- `eq` holds when the attribute has the value's kind and is equal to it; `ne` is its negation.
- `gt`, `gte`, `lt`, `lte` compare numbers numerically and strings by code point; an attribute of
  another kind, and a boolean on either side, never matches (booleans have no order).
- `in` holds when the attribute `eq`s one of the list's items (strings and numbers); `nin` is its
  negation. An empty `in` list matches nothing, an empty `nin` list everything.
- A key the file does not have matches only `ne` and `nin`: a missing value is "not equal".
A compound `and` holds when all its filters do, `or` when any does; so an empty `and` matches every
file and an empty `or` none. OpenAI's schema sets no minimum on the list, hence both are accepted.

Validation follows OpenAI's schema: all listed fields are required and no other field is accepted;
`value` is a string, number, boolean or list of strings and numbers; a list goes only with `in` and
`nin`, which take nothing else. Beyond the schema, compounds nest at most `MAX_DEPTH` deep and a
filter holds at most `MAX_FILTERS` filter objects, so a request cannot make matching expensive.
A fault raises `FilterError`, whose message follows OpenAI's wording and whose `param` is the JSON
path of the fault (`filters.filters[1].type`).
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, TypeAlias, cast, get_args

Scalar: TypeAlias = str | float | bool  # an attribute value (an int is a float to the type checker)
ListItem: TypeAlias = str | float
ComparisonType = Literal["eq", "ne", "gt", "gte", "lt", "lte", "in", "nin"]
CompoundType = Literal["and", "or"]
COMPARISON_TYPES: tuple[str, ...] = get_args(ComparisonType)
COMPOUND_TYPES: tuple[str, ...] = get_args(CompoundType)

MAX_DEPTH = 8  # compound filters nested in one another
MAX_FILTERS = 64  # filter objects (comparisons and compounds) in one request
MAX_ATTRIBUTES = 16
MAX_KEY_LENGTH = 64
MAX_STRING_LENGTH = 512


class FilterError(ValueError):
    """An invalid filter or attributes object. `param` is the JSON path of the fault and `code` the
    OpenAI error code for it (`invalid_type`, `missing_required_parameter`, ...)."""

    def __init__(self, message: str, param: str, code: str) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        self.code = code


@dataclass(frozen=True, slots=True)
class Comparison:
    type: ComparisonType
    key: str
    value: Scalar | tuple[ListItem, ...]  # a tuple exactly for `in` and `nin`


@dataclass(frozen=True, slots=True)
class Compound:
    type: CompoundType
    filters: tuple[Filter, ...]


Filter: TypeAlias = Comparison | Compound


# --- parsing -----------------------------------------------------------------------------------------


def parse(doc: object, param: str = "filters") -> Filter:
    """Validate a request's `filters` object into a `Filter`; FilterError names the faulty field."""
    count = [0]
    return _parse(doc, param, 1, count)


def _parse(doc: object, param: str, depth: int, count: list[int]) -> Filter:
    if not isinstance(doc, dict):
        raise _invalid_type(param, "an object", doc)
    count[0] += 1
    if count[0] > MAX_FILTERS:
        raise FilterError(
            f"Invalid '{param}': a filter may hold at most {MAX_FILTERS} comparison and compound filters.",
            param,
            "invalid_value",
        )
    kind = _required(doc, "type", param)
    if kind in COMPOUND_TYPES:
        _no_unknown(doc, ("type", "filters"), param)
        items = _required(doc, "filters", param)
        if not isinstance(items, list):
            raise _invalid_type(f"{param}.filters", "an array", items)
        if depth > MAX_DEPTH:
            raise FilterError(
                f"Invalid '{param}': compound filters may be nested at most {MAX_DEPTH} levels deep.",
                param,
                "invalid_value",
            )
        children = tuple(
            _parse(item, f"{param}.filters[{i}]", depth + 1, count) for i, item in enumerate(items)
        )
        return Compound(cast(CompoundType, kind), children)
    if kind in COMPARISON_TYPES:
        _no_unknown(doc, ("type", "key", "value"), param)
        key = _required(doc, "key", param)
        if not isinstance(key, str):
            raise _invalid_type(f"{param}.key", "a string", key)
        value = _comparison_value(kind, _required(doc, "value", param), f"{param}.value")
        return Comparison(cast(ComparisonType, kind), key, value)
    if not isinstance(kind, str):
        raise _invalid_type(f"{param}.type", "a string", kind)
    expected = ", ".join(f"'{t}'" for t in COMPARISON_TYPES + COMPOUND_TYPES)
    raise FilterError(
        f"Invalid value for '{param}.type': expected one of {expected}, but got {kind[:100]!r} instead.",
        f"{param}.type",
        "invalid_value",
    )


def _comparison_value(kind: str, value: object, param: str) -> Scalar | tuple[ListItem, ...]:
    if kind in ("in", "nin"):
        if not isinstance(value, list):
            raise _invalid_type(param, f"an array for '{kind}'", value)
        for i, item in enumerate(value):
            if not (isinstance(item, str) or _is_number(item)):
                raise _invalid_type(f"{param}[{i}]", "a string or a number", item)
        return tuple(value)
    if isinstance(value, list):
        raise FilterError(
            f"Invalid value for '{param}': an array is accepted only with 'in' and 'nin', not '{kind}'.",
            param,
            "invalid_value",
        )
    if isinstance(value, str | bool):
        return value
    if _is_number(value):
        return cast(float, value)
    raise _invalid_type(param, "one of a string, number, boolean, or array", value)


def _required(doc: dict[str, object], field: str, param: str) -> object:
    if field not in doc:
        raise FilterError(
            f"Missing required parameter: '{param}.{field}'.",
            f"{param}.{field}",
            "missing_required_parameter",
        )
    return doc[field]


def _no_unknown(doc: dict[str, object], known: tuple[str, ...], param: str) -> None:
    for field in doc:
        if field not in known:
            path = f"{param}.{field}"
            raise FilterError(f"Unknown parameter: '{path}'.", path, "unknown_parameter")


def _is_number(value: object) -> bool:
    """An int or a finite float, not a bool (JSON has no NaN or infinity)."""
    return (isinstance(value, int) and not isinstance(value, bool)) or (
        isinstance(value, float) and math.isfinite(value)
    )


def _type_name(value: object) -> str:
    match value:
        case None:
            return "null"
        case bool():
            return "a boolean"
        case int():
            return "an integer"
        case float():
            return "a decimal"
        case str():
            return "a string"
        case list() | tuple():
            return "an array"
        case dict():
            return "an object"
    return type(value).__name__


def _invalid_type(param: str, expected: str, got: object) -> FilterError:
    if isinstance(got, float) and not math.isfinite(got):
        message = f"Invalid value for '{param}': expected a finite number, but got {got!r} instead."
        return FilterError(message, param, "invalid_value")
    message = f"Invalid type for '{param}': expected {expected}, but got {_type_name(got)} instead."
    return FilterError(message, param, "invalid_type")


# --- matching ----------------------------------------------------------------------------------------


def matches(f: Filter, attributes: Mapping[str, Scalar] | None) -> bool:
    """Whether a file with these attributes passes the filter (see the module docstring)."""
    match f:
        case Compound(type="and", filters=children):
            return all(matches(child, attributes) for child in children)
        case Compound(type="or", filters=children):
            return any(matches(child, attributes) for child in children)
        case Comparison(type=op, key=key, value=value):
            actual = None if attributes is None else attributes.get(key)
            if actual is None:
                return op in ("ne", "nin")
            return _compare(op, actual, value)
    raise TypeError(f"not a filter: {f!r}")


def _compare(op: str, actual: Scalar, value: Scalar | tuple[ListItem, ...]) -> bool:
    match op, value:
        case "eq", str() | int() | float():
            return _equal(actual, value)
        case "ne", str() | int() | float():
            return not _equal(actual, value)
        case "in", tuple():
            return any(_equal(actual, item) for item in value)
        case "nin", tuple():
            return not any(_equal(actual, item) for item in value)
        case (("gt" | "gte" | "lt" | "lte"), str() | int() | float()):
            return _ordered(op, actual, value)
    raise TypeError(f"not a comparison: {op!r} with {value!r}")


_ORDER: dict[str, Callable[[Any, Any], Any]] = {
    "gt": operator.gt,
    "gte": operator.ge,
    "lt": operator.lt,
    "lte": operator.le,
}


def _kind(value: object) -> str:
    """The JSON kind of an attribute or filter value: "boolean", "number" or "string"."""
    if isinstance(value, bool):
        return "boolean"
    return "string" if isinstance(value, str) else "number"


def _equal(a: Scalar, b: Scalar) -> bool:
    return _kind(a) == _kind(b) and a == b


def _ordered(op: str, a: Scalar, b: Scalar) -> bool:
    kind = _kind(a)
    if kind == "boolean" or kind != _kind(b):
        return False
    return bool(_ORDER[op](a, b))  # two strings or two numbers


# --- attributes --------------------------------------------------------------------------------------


def check_attributes(doc: object, param: str = "attributes") -> dict[str, Scalar] | None:
    """Validate an `attributes` object as OpenAI does: null, or an object of at most 16 keys of at most
    64 characters whose values are strings of at most 512 characters, finite numbers or booleans.
    Returns a copy (None for null); FilterError names the faulty key (`attributes.author`)."""
    if doc is None:
        return None
    if not isinstance(doc, dict):
        raise _invalid_type(param, "an object", doc)
    if len(doc) > MAX_ATTRIBUTES:
        raise FilterError(
            f"Invalid '{param}': too many properties. Expected an object with at most {MAX_ATTRIBUTES} "
            f"properties, but got an object with {len(doc)} properties instead.",
            param,
            "object_above_max_properties",
        )
    out: dict[str, Scalar] = {}
    for key, value in doc.items():
        if not isinstance(key, str):
            raise _invalid_type(param, "an object with string keys", key)
        if len(key) > MAX_KEY_LENGTH:
            raise FilterError(
                f"Invalid '{param}': property name too long. Expected a property name with maximum length "
                f"{MAX_KEY_LENGTH}, but got {key[:MAX_KEY_LENGTH]!r}... with length {len(key)} instead.",
                param,
                "invalid_value",
            )
        path = f"{param}.{key}"
        if isinstance(value, str):
            if len(value) > MAX_STRING_LENGTH:
                raise FilterError(
                    f"Invalid '{path}': string too long. Expected a string with maximum length "
                    f"{MAX_STRING_LENGTH}, but got a string with length {len(value)} instead.",
                    path,
                    "string_above_max_length",
                )
        elif not (isinstance(value, bool) or _is_number(value)):
            raise _invalid_type(path, "one of a string, number, or boolean", value)
        out[key] = value
    return out
