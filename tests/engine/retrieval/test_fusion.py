"""Reciprocal rank fusion, the keyword score mapping, and the top cosine similarities."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from numpy.typing import NDArray

from gateway.engine.retrieval.fusion import RRF_K, cosine_top, keyword_score, rrf


def test_rrf_scores_and_order() -> None:
    fused = rrf(["a", "b", "c"], ["c", "a", "d"])
    best = 2 / (RRF_K + 1)
    expected = {
        "a": (1 / 61 + 1 / 62) / best,
        "b": (1 / 62) / best,
        "c": (1 / 63 + 1 / 61) / best,
        "d": (1 / 63) / best,
    }
    assert [item for item, _ in fused] == ["a", "c", "b", "d"]
    for item, score in fused:
        assert score == pytest.approx(expected[item], rel=1e-12)


def test_rrf_normalisation() -> None:
    assert rrf(["x", "y"], ["x"], ["x", "y"])[0] == ("x", 1.0)  # first everywhere: exactly 1
    for item, score in rrf(list(range(50)), list(range(49, -1, -1)), k=0):
        assert 0 < score <= 1, item
    one = rrf(["a", "b"])
    assert one == [("a", 1.0), ("b", 61 / 62)]
    # A ranking that found nothing still counts in the divisor.
    assert rrf(["a"], []) == [("a", 0.5)]


def test_rrf_ties_keep_first_appearance() -> None:
    # "b" and "x" are both first in one ranking and absent from the other.
    assert [item for item, _ in rrf(["b", "c"], ["x", "c"])] == ["c", "b", "x"]
    assert [item for item, _ in rrf(["p", "q"], ["q", "p"])] == ["p", "q"]
    assert [item for item, _ in rrf([3, 1, 2], [])] == [3, 1, 2]


def test_rrf_edge_cases() -> None:
    assert rrf() == []
    assert rrf([], []) == []
    assert rrf(["a", "a", "b"]) == rrf(["a", "b"])  # a repeat counts at its first place only
    assert rrf(["a", "b"], k=10) == [("a", 1.0), ("b", 11 / 12)]
    with pytest.raises(ValueError):
        rrf(["a"], k=-1)


@given(st.lists(st.lists(st.integers(0, 30), max_size=20), min_size=1, max_size=4))
def test_rrf_properties(rankings: list[list[int]]) -> None:
    exact: dict[int, Fraction] = {}  # in first-appearance order, reading the rankings in turn
    for ranking in rankings:
        for rank, item in enumerate(dict.fromkeys(ranking), start=1):
            exact[item] = exact.get(item, Fraction(0)) + Fraction(1, RRF_K + rank)
    expected = {item: score / Fraction(len(rankings), RRF_K + 1) for item, score in exact.items()}
    fused = rrf(*rankings)
    assert [item for item, _ in fused] == sorted(expected, key=lambda item: -expected[item])
    for item, score in fused:
        assert score == pytest.approx(float(expected[item]), rel=1e-12)
        assert 0 < score <= 1


def test_keyword_score_is_coverage_and_relative_rank() -> None:
    terms = ["refund", "policy", "退款"]
    assert keyword_score(terms, "Refund policy 退款 款政", 2.0, 2.0) == 1.0  # every term, the best rank
    assert keyword_score(terms, "refund only", 1.0, 2.0) == pytest.approx((1 / 3 + 0.5) / 2)
    assert keyword_score(terms, "nothing", 0.0, 2.0) == 0.0
    assert keyword_score(terms, "refund", 1e-9, 1e-9) == pytest.approx((1 / 3 + 1) / 2)  # bm25 near 0
    assert keyword_score(terms, "refund", math.nan, 1.0) == pytest.approx(1 / 6)
    assert keyword_score(terms, "refund", 3.0, 0.0) == pytest.approx(1 / 6)
    assert keyword_score([], "refund", 1.0, 1.0) == 0.5
    # more terms found, or a better rank, never lowers the score
    scores = [
        keyword_score(terms, text, r, 4.0) for text, r in [("", 0), ("refund", 1), ("refund policy", 2)]
    ]
    assert scores == sorted(scores) and len(set(scores)) == 3


def unit_rows(rng: np.random.Generator, n: int, d: int) -> NDArray[np.float32]:
    m = rng.standard_normal((n, d)).astype(np.float32)
    rows: NDArray[np.float32] = (m / np.linalg.norm(m, axis=1, keepdims=True)).astype(np.float32)
    return rows


@pytest.mark.parametrize(("n", "k"), [(1000, 10), (50, 50), (50, 80), (7, 1), (300, 299)])
def test_cosine_top_matches_brute_force(n: int, k: int) -> None:
    rng = np.random.default_rng(n * 1000 + k)
    matrix = unit_rows(rng, n, 32)
    query = rng.standard_normal(32).astype(np.float32) * 7  # not normalised: cosine_top does it
    indices, sims = cosine_top(matrix, query, k)
    q = query.astype(np.float64) / np.linalg.norm(query.astype(np.float64))
    reference = [(float(np.dot(matrix[i].astype(np.float64), q)), i) for i in range(n)]
    reference.sort(key=lambda pair: -pair[0])
    expected = reference[: min(k, n)]
    assert indices.dtype == np.intp and sims.dtype == np.float32
    assert indices.tolist() == [i for _, i in expected]
    assert np.allclose(sims, [s for s, _ in expected], atol=1e-5)


def test_cosine_top_ties_and_edges() -> None:
    matrix = np.array([[1, 0], [0, 1], [1, 0], [-1, 0]], dtype=np.float32)
    indices, sims = cosine_top(matrix, np.array([2, 0], dtype=np.float32), 4)
    assert indices.tolist() == [0, 2, 1, 3] and sims.tolist() == [1, 1, 0, -1]
    indices, sims = cosine_top(matrix, np.array([1, 0], dtype=np.float32), 0)
    assert indices.shape == sims.shape == (0,)
    indices, _ = cosine_top(np.empty((0, 2), dtype=np.float32), np.array([1, 0], dtype=np.float32), 5)
    assert indices.shape == (0,)
    with pytest.raises(ValueError):
        cosine_top(matrix, np.zeros(2, dtype=np.float32), 2)
    with pytest.raises(ValueError):
        cosine_top(matrix, np.array([np.nan, 1], dtype=np.float32), 2)
    with pytest.raises(ValueError):
        cosine_top(matrix, np.ones(3, dtype=np.float32), 2)
