"""Scores for search results: reciprocal rank fusion of several rankings, a keyword rank mapped into
[0, 1), and the top cosine similarities of a query embedding.

Keyword ranks (bm25, ts_rank) and cosine similarities are on unrelated scales, so a hybrid search
fuses the two rankings by position alone (RRF: each list adds 1/(k + rank) for an id it holds) rather
than by mixing their scores.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence
from typing import TypeVar

import numpy as np
from numpy.typing import NDArray

RRF_K = 60  # the constant of the original RRF paper: damps the weight of the very first ranks

H = TypeVar("H", bound=Hashable)


def rrf(*rankings: Sequence[H], k: int = RRF_K) -> list[tuple[H, float]]:
    """Fuse rankings (each best first) into one list, best first, of (id, score).

    An id's score is the sum over the rankings of 1/(k + rank), rank counting from 1 (a ranking's repeats
    are dropped first), divided by the best possible sum, len(rankings)/(k+1), so it lies in (0, 1] and
    is exactly 1 for an id first in every ranking. An empty ranking still counts
    in the divisor: it is a retriever that found nothing. Equal scores keep the order in which the ids
    first appear, reading the rankings in turn.
    """
    if k < 0:
        raise ValueError(f"k must be >= 0, got {k}")
    best = k + 1.0
    parts: dict[H, list[float]] = {}  # each (k+1)/(k+rank): exactly 1.0 for a first place
    for ranking in rankings:
        for rank, item in enumerate(dict.fromkeys(ranking), start=1):
            parts.setdefault(item, []).append(best / (k + rank))
    # fsum is exact, so ids with the same ranks tie exactly, whichever rankings they came from.
    fused = [(item, min(1.0, math.fsum(p) / len(rankings))) for item, p in parts.items()]
    fused.sort(key=lambda pair: -pair[1])  # stable: ties keep first-appearance order
    return fused


def keyword_score(terms: Sequence[str], search_text: str, rank: float, best: float) -> float:
    """A keyword result's score in [0, 1]: the mean of the share of the query's `terms` that the chunk's
    search text holds, and its database rank relative to the `best` candidate's (larger is better;
    negative or NaN counts as 0). The database's rank alone is no score to show: bm25's term weights
    vanish when a term is in most chunks, and ts_rank has no fixed scale."""
    found = set(search_text.lower().split())
    coverage = sum(t in found for t in terms) / len(terms) if terms else 0.0
    relative = rank / best if best > 0 and rank > 0 and math.isfinite(best) else 0.0
    return (coverage + min(relative, 1.0)) / 2


def cosine_top(
    matrix: NDArray[np.float32], query: NDArray[np.float32], k: int
) -> tuple[NDArray[np.intp], NDArray[np.float32]]:
    """The `k` rows of `matrix` (n, d) most similar to `query` (d,): their indices, best first, and their
    cosine similarities. The rows must be L2-normalised already; the query is normalised here. Equal
    similarities are listed in row order (which of several rows tied at the cut are kept is
    unspecified). A zero or non-finite query is a ValueError.
    """
    if matrix.ndim != 2 or query.shape != (matrix.shape[1],):
        raise ValueError(f"query of shape {query.shape} does not fit a matrix of shape {matrix.shape}")
    q = np.asarray(query, dtype=np.float32)
    norm = float(np.linalg.norm(q))
    if not (norm > 0 and math.isfinite(norm)):
        raise ValueError("the query vector must be finite and non-zero")
    sims = matrix @ (q / norm)
    n = sims.shape[0]
    k = min(k, n)
    if k <= 0:
        return np.empty(0, dtype=np.intp), np.empty(0, dtype=np.float32)
    top = np.argpartition(-sims, k - 1)[:k] if k < n else np.arange(n)
    order = top[np.lexsort((top, -sims[top]))]
    return order.astype(np.intp, copy=False), sims[order].astype(np.float32, copy=False)
