"""Attribute filters: parsing and its errors (message and param path), matching for every operator, type
strictness, missing keys, compounds; and the validation of file attributes."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.engine.retrieval.filters import (
    MAX_DEPTH,
    MAX_FILTERS,
    Comparison,
    Compound,
    FilterError,
    Scalar,
    check_attributes,
    matches,
    parse,
)

ATTRS: dict[str, Scalar] = {"author": "ana", "year": 2021, "score": 4.5, "draft": False, "one": 1}


def cmp(op: str, key: str, value: Any) -> dict[str, Any]:
    return {"type": op, "key": key, "value": value}


def ok(doc: dict[str, Any], attributes: dict[str, Scalar] | None = ATTRS) -> bool:
    return matches(parse(doc), attributes)


# --- parsing --------------------------------------------------------------------------------------


def test_parse_builds_frozen_dataclasses() -> None:
    doc = {
        "type": "and",
        "filters": [cmp("eq", "a", "x"), {"type": "or", "filters": [cmp("in", "b", [1, "y"])]}],
    }
    parsed = parse(doc)
    assert parsed == Compound(
        "and", (Comparison("eq", "a", "x"), Compound("or", (Comparison("in", "b", (1, "y")),)))
    )
    with pytest.raises(AttributeError):
        parsed.type = "or"  # type: ignore[misc]


def error_of(doc: object, param: str = "filters") -> FilterError:
    with pytest.raises(FilterError) as info:
        parse(doc, param)
    assert isinstance(info.value, ValueError)
    return info.value


@pytest.mark.parametrize(
    ("doc", "param", "code", "message"),
    [
        ("eq", "filters", "invalid_type", "Invalid type for 'filters': expected an object, but got a string"),
        ({}, "filters.type", "missing_required_parameter", "Missing required parameter: 'filters.type'."),
        (
            {"type": "like", "key": "a", "value": "x"},
            "filters.type",
            "invalid_value",
            "Invalid value for 'filters.type': expected one of 'eq', 'ne', 'gt', 'gte', 'lt', 'lte', 'in', "
            "'nin', 'and', 'or', but got 'like' instead.",
        ),
        ({"type": 3}, "filters.type", "invalid_type", "expected a string, but got an integer"),
        ({"type": "eq", "value": 1}, "filters.key", "missing_required_parameter", "'filters.key'"),
        ({"type": "eq", "key": "a"}, "filters.value", "missing_required_parameter", "'filters.value'"),
        ({"type": "eq", "key": 5, "value": 1}, "filters.key", "invalid_type", "expected a string"),
        (cmp("eq", "a", None), "filters.value", "invalid_type", "but got null instead"),
        (cmp("eq", "a", {"x": 1}), "filters.value", "invalid_type", "but got an object instead"),
        (cmp("eq", "a", float("nan")), "filters.value", "invalid_value", "expected a finite number"),
        (cmp("gt", "a", float("inf")), "filters.value", "invalid_value", "expected a finite number"),
        (cmp("eq", "a", [1]), "filters.value", "invalid_value", "only with 'in' and 'nin', not 'eq'"),
        (cmp("lte", "a", []), "filters.value", "invalid_value", "not 'lte'"),
        (
            cmp("in", "a", "x"),
            "filters.value",
            "invalid_type",
            "expected an array for 'in', but got a string",
        ),
        (cmp("nin", "a", 3), "filters.value", "invalid_type", "expected an array for 'nin'"),
        (cmp("in", "a", ["x", True]), "filters.value[1]", "invalid_type", "got a boolean instead"),
        (cmp("in", "a", [1, None]), "filters.value[1]", "invalid_type", "got null instead"),
        (cmp("in", "a", [[1]]), "filters.value[0]", "invalid_type", "got an array instead"),
        ({**cmp("eq", "a", 1), "extra": 1}, "filters.extra", "unknown_parameter", "Unknown parameter"),
        ({**cmp("eq", "a", 1), "filters": []}, "filters.filters", "unknown_parameter", "'filters.filters'"),
        ({"type": "and"}, "filters.filters", "missing_required_parameter", "'filters.filters'"),
        ({"type": "or", "filters": {}}, "filters.filters", "invalid_type", "expected an array"),
        ({"type": "and", "filters": [], "key": "a"}, "filters.key", "unknown_parameter", "'filters.key'"),
        (
            {"type": "and", "filters": [cmp("eq", "a", 1), {"type": "gt", "key": "b"}]},
            "filters.filters[1].value",
            "missing_required_parameter",
            "'filters.filters[1].value'",
        ),
        (
            {"type": "and", "filters": [{"type": "or", "filters": [cmp("eq", "a", 1), "x"]}]},
            "filters.filters[0].filters[1]",
            "invalid_type",
            "expected an object",
        ),
        (
            {"type": "or", "filters": [cmp("eq", "a", 1), {"type": "xor", "filters": []}]},
            "filters.filters[1].type",
            "invalid_value",
            "but got 'xor' instead",
        ),
    ],
)
def test_parse_errors(doc: object, param: str, code: str, message: str) -> None:
    error = error_of(doc)
    assert (error.param, error.code) == (param, code)
    assert message in str(error) and error.message == str(error)


def test_parse_error_param_prefix() -> None:
    assert error_of({"type": "eq"}, param="body.filters").param == "body.filters.key"


def nested(depth: int) -> dict[str, Any]:
    doc: dict[str, Any] = cmp("eq", "a", 1)
    for _ in range(depth):
        doc = {"type": "and", "filters": [doc]}
    return doc


def test_depth_bound() -> None:
    assert ok(nested(MAX_DEPTH), {"a": 1})
    error = error_of(nested(MAX_DEPTH + 1))
    assert error.param == "filters" + ".filters[0]" * MAX_DEPTH
    assert f"at most {MAX_DEPTH} levels" in str(error)
    error_of(nested(10_000))  # rejected before the recursion goes deep


def test_count_bound() -> None:
    assert ok({"type": "or", "filters": [cmp("eq", "a", i) for i in range(MAX_FILTERS - 1)]}, {"a": 5})
    error = error_of({"type": "or", "filters": [cmp("eq", "a", i) for i in range(MAX_FILTERS)]})
    assert error.param == f"filters.filters[{MAX_FILTERS - 1}]"
    assert f"at most {MAX_FILTERS}" in str(error)


# --- matching -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("op", "key", "value", "expected"),
    [
        ("eq", "author", "ana", True),
        ("eq", "author", "Ana", False),
        ("ne", "author", "bob", True),
        ("ne", "author", "ana", False),
        ("eq", "year", 2021, True),
        ("eq", "year", 2021.0, True),  # integers and decimals are one kind
        ("eq", "one", True, False),  # a boolean is not a number ...
        ("ne", "one", True, True),
        ("eq", "draft", 0, False),  # ... either way round
        ("eq", "draft", False, True),
        ("ne", "draft", True, True),
        ("eq", "year", "2021", False),  # nor a string a number
        ("ne", "year", "2021", True),
        ("gt", "year", 2020, True),
        ("gt", "year", 2021, False),
        ("gte", "year", 2021, True),
        ("lt", "score", 4.6, True),
        ("lt", "score", 4.5, False),
        ("lte", "score", 4.5, True),
        ("gt", "author", "al", True),  # strings compare by code point
        ("lt", "author", "b", True),
        ("lt", "author", "B", False),
        ("gte", "author", "ana", True),
        ("gt", "year", "2000", False),  # a type mismatch never matches an order
        ("lt", "author", 5, False),
        ("gte", "draft", False, False),  # booleans have no order
        ("lte", "one", True, False),
        ("in", "author", ["bob", "ana"], True),
        ("in", "author", ["bob"], False),
        ("in", "year", ["2021", 2021.0], True),
        ("in", "year", ["2021"], False),
        ("in", "one", [1], True),
        ("in", "draft", [0], False),
        ("in", "author", [], False),
        ("nin", "author", ["bob"], True),
        ("nin", "author", ["ana", "bob"], False),
        ("nin", "draft", [0, "false"], True),
        ("nin", "author", [], True),
    ],
)
def test_comparisons(op: str, key: str, value: Any, expected: bool) -> None:
    assert ok(cmp(op, key, value)) is expected


@pytest.mark.parametrize("attributes", [ATTRS, {}, None])
@pytest.mark.parametrize(
    ("op", "value", "expected"),
    [
        ("eq", "x", False),
        ("ne", "x", True),  # a missing value is "not equal"
        ("gt", 1, False),
        ("gte", 1, False),
        ("lt", "x", False),
        ("lte", 1, False),
        ("in", ["x"], False),
        ("nin", ["x"], True),
        ("nin", [], True),
    ],
)
def test_missing_key(attributes: dict[str, Scalar] | None, op: str, value: Any, expected: bool) -> None:
    assert ok(cmp(op, "missing", value), attributes) is expected


def test_compounds() -> None:
    yes, no = cmp("eq", "author", "ana"), cmp("eq", "author", "bob")
    assert ok({"type": "and", "filters": [yes, yes]})
    assert not ok({"type": "and", "filters": [yes, no]})
    assert ok({"type": "or", "filters": [no, yes]})
    assert not ok({"type": "or", "filters": [no, no]})
    assert ok({"type": "and", "filters": []})  # all of nothing
    assert not ok({"type": "or", "filters": []})  # any of nothing
    deep = {
        "type": "and",
        "filters": [yes, {"type": "or", "filters": [no, {"type": "and", "filters": [yes]}]}],
    }
    assert ok(deep)
    assert not ok(
        {"type": "and", "filters": [yes, {"type": "or", "filters": [no, {"type": "and", "filters": [no]}]}]}
    )
    assert ok({"type": "or", "filters": [cmp("ne", "missing", 1), no]}, None)


def test_matches_rejects_non_filters() -> None:
    with pytest.raises(TypeError):
        matches("eq", ATTRS)  # type: ignore[arg-type]


VALUES = st.one_of(
    st.text(max_size=5),
    st.integers(-5, 5),
    st.floats(-5, 5, allow_nan=False).map(lambda x: round(x, 1)),
    st.booleans(),
)
LIST_ITEMS = st.lists(
    st.one_of(st.text(max_size=5), st.integers(-5, 5), st.sampled_from([1.0, 0.0, -2.5])), max_size=4
)


@given(VALUES, VALUES)
def test_ne_is_the_negation_of_eq_on_present_keys(attribute: Scalar, value: Scalar) -> None:
    attrs = {"k": attribute}
    assert ok(cmp("ne", "k", value), attrs) is not ok(cmp("eq", "k", value), attrs)
    assert ok(cmp("eq", "k", value), attrs) is (
        (type(attribute) is bool) == (type(value) is bool)
        and isinstance(attribute, str) == isinstance(value, str)
        and attribute == value
    )


@given(VALUES, LIST_ITEMS)
def test_nin_is_the_negation_of_in_on_present_keys(attribute: Scalar, items: list[str | float]) -> None:
    attrs = {"k": attribute}
    assert ok(cmp("nin", "k", items), attrs) is not ok(cmp("in", "k", items), attrs)
    assert ok(cmp("in", "k", items), attrs) is any(ok(cmp("eq", "k", item), attrs) for item in items)


@given(VALUES, VALUES)
def test_orders_agree_with_each_other(attribute: Scalar, value: Scalar) -> None:
    attrs = {"k": attribute}
    gt, gte, lt, lte = (ok(cmp(op, "k", value), attrs) for op in ("gt", "gte", "lt", "lte"))
    comparable = not isinstance(attribute, bool) and not isinstance(value, bool)
    comparable = comparable and isinstance(attribute, str) == isinstance(value, str)
    if not comparable:
        assert not (gt or gte or lt or lte)
    else:
        equal = ok(cmp("eq", "k", value), attrs)
        assert gte is (gt or equal) and lte is (lt or equal) and gt is not lte


# --- attributes -----------------------------------------------------------------------------------


def test_check_attributes_accepts() -> None:
    attrs = {"author": "a" * 512, "year": 2021, "score": -0.5, "draft": True, "k" * 64: ""}
    assert check_attributes(attrs) == attrs
    assert check_attributes(attrs) is not attrs
    assert check_attributes(None) is None
    assert check_attributes({}) == {}
    assert check_attributes({str(i): i for i in range(16)}) == {str(i): i for i in range(16)}


@pytest.mark.parametrize(
    ("doc", "param", "code", "message"),
    [
        ([], "attributes", "invalid_type", "expected an object, but got an array"),
        ("x", "attributes", "invalid_type", "expected an object, but got a string"),
        (
            {str(i): i for i in range(17)},
            "attributes",
            "object_above_max_properties",
            "Expected an object with at most 16 properties, but got an object with 17 properties instead.",
        ),
        ({"k" * 65: 1}, "attributes", "invalid_value", "property name too long"),
        ({1: "x"}, "attributes", "invalid_type", "string keys"),
        (
            {"author": "a" * 513},
            "attributes.author",
            "string_above_max_length",
            "Expected a string with maximum length 512, but got a string with length 513 instead.",
        ),
        ({"author": None}, "attributes.author", "invalid_type", "but got null instead"),
        ({"tags": ["a"]}, "attributes.tags", "invalid_type", "but got an array instead"),
        ({"meta": {}}, "attributes.meta", "invalid_type", "but got an object instead"),
        ({"x": float("nan")}, "attributes.x", "invalid_value", "finite number"),
        ({"x": float("-inf")}, "attributes.x", "invalid_value", "finite number"),
    ],
)
def test_check_attributes_errors(doc: object, param: str, code: str, message: str) -> None:
    with pytest.raises(FilterError) as info:
        check_attributes(doc)
    assert (info.value.param, info.value.code) == (param, code)
    assert message in str(info.value)


def test_check_attributes_param_prefix() -> None:
    with pytest.raises(FilterError) as info:
        check_attributes({"a": None}, param="files[2].attributes")
    assert info.value.param == "files[2].attributes.a"
