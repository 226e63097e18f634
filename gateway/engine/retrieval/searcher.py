"""Search over vector stores: keyword ranking by the database, fused with embeddings when configured.

Without an embeddings endpoint the database ranks (bm25, ts_rank), and a result's score is the mean
of two parts in [0, 1]: the share of the query's terms the chunk holds, and its rank relative to the
best candidate's; results are ordered by that score. Neither database's rank alone makes a score worth
showing: bm25's term weights vanish when a term is in most chunks (a small store scores ~0), and
`ts_rank` has no fixed scale (`fusion.keyword_score`). With an embeddings endpoint, the query is
embedded, every embedded chunk of the stores is scored by cosine similarity (from a copy of the store's
vectors kept in memory while the store's `generation` is unchanged, bounded by EMBEDDINGS_CACHE_MB), and
the two rankings are fused by reciprocal rank
(`fusion.rrf`, scores in (0, 1]). Attribute filters are decided on the stores' files first, and only the
files they keep are ranked.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from gateway.engine.retrieval import analyze, filters, fusion
from gateway.engine.retrieval.embeddings import Embeddings
from gateway.engine.store import Store

DEPTH = 100  # chunks each ranking contributes to a fusion


@dataclass(frozen=True, slots=True)
class Result:
    file_id: str
    filename: str
    score: float
    attributes: dict[str, Any] | None
    text: str


@dataclass(frozen=True, slots=True)
class _Vectors:
    generation: int
    seqs: NDArray[np.int64]
    file_ids: list[str]
    matrix: NDArray[np.float32]


class Searcher:
    def __init__(self, store: Store, embeddings: Embeddings | None, cache_bytes: int = 256 << 20) -> None:
        self._store = store
        self._embeddings = embeddings
        self._cache: OrderedDict[str, _Vectors] = OrderedDict()
        self._cache_bytes = cache_bytes

    async def search(
        self,
        store_ids: Sequence[str],
        queries: Sequence[str],
        *,
        limit: int,
        score_threshold: float = 0.0,
        condition: filters.Filter | None = None,
    ) -> list[Result]:
        """The best `limit` chunks of the stores' completed files for `queries`, best first."""
        allowed: list[str] | None = None
        if condition is not None:  # every file's attributes decide; else only the results' are read
            files = {f.file_id: f for f in await self._store.search.store_files(store_ids)}
            allowed = [i for i, f in files.items() if filters.matches(condition, f.attributes)]
            if not allowed:
                return []
        terms: list[str] = []
        for query in queries:
            terms += [t for t in analyze.search_terms(query) if t not in terms]
        expression = analyze.tsquery(terms) if self._store.db.postgres else analyze.fts5_query(terms)
        if self._embeddings is None:
            hits = await self._store.search.keyword(store_ids, expression, max(2 * limit, 20), allowed)
            texts = await self._store.search.texts([h.seq for h in hits])
            best = max((h.rank for h in hits), default=0.0)
            scored = sorted(
                (
                    (h.seq, h.file_id, fusion.keyword_score(terms, texts[h.seq][1], h.rank, best))
                    for h in hits
                    if h.seq in texts
                ),
                key=lambda item: -item[2],
            )
        else:
            depth = max(DEPTH, limit)
            hits = await self._store.search.keyword(store_ids, expression, depth, allowed)
            nearest = await self._nearest(store_ids, " ".join(queries), depth, allowed)
            owner = {h.seq: h.file_id for h in hits} | {seq: file_id for seq, file_id, _ in nearest}
            fused = fusion.rrf([h.seq for h in hits], [seq for seq, _, _ in nearest])
            scored = [(seq, owner[seq], score) for seq, score in fused]
            texts = await self._store.search.texts([seq for seq, _, _ in scored[:limit]])
        scored = [s for s in scored if s[2] >= score_threshold][:limit]
        if condition is None:
            found = await self._store.search.store_files(store_ids, {f for _, f, _ in scored})
            files = {f.file_id: f for f in found}
        return [
            Result(file_id, files[file_id].filename, score, files[file_id].attributes, texts[seq][0])
            for seq, file_id, score in scored
            if seq in texts and file_id in files
        ]

    async def _nearest(
        self, store_ids: Sequence[str], query: str, depth: int, allowed: Sequence[str] | None
    ) -> list[tuple[int, str, float]]:
        assert self._embeddings is not None
        (vector,) = await self._embeddings.embed([query])
        keep = None if allowed is None else set(allowed)
        best: list[tuple[int, str, float]] = []
        for vectors in await self._vectors(store_ids):
            if not vectors.file_ids:
                continue
            matrix, seqs, owners = vectors.matrix, vectors.seqs, vectors.file_ids
            if keep is not None:
                rows = np.fromiter((i for i, f in enumerate(owners) if f in keep), dtype=np.int64)
                if rows.size == 0:
                    continue
                matrix, seqs, owners = matrix[rows], seqs[rows], [owners[i] for i in rows]
            index, similarity = fusion.cosine_top(matrix, vector, depth)
            best += [(int(seqs[i]), owners[i], float(s)) for i, s in zip(index, similarity, strict=True)]
        best.sort(key=lambda item: -item[2])
        return best[:depth]

    async def _vectors(self, store_ids: Sequence[str]) -> list[_Vectors]:
        generations = await self._store.search.generations(store_ids)
        out = []
        for store_id in store_ids:
            cached = self._cache.get(store_id)
            if cached is None or cached.generation != generations.get(store_id):
                embedded = await self._store.search.embedded(store_id)
                flat = np.frombuffer(embedded.vectors, dtype="<f4")
                rows = len(embedded.seqs)
                matrix = flat.reshape(rows, -1) if rows else np.zeros((0, 1), dtype=np.float32)
                cached = _Vectors(
                    embedded.generation, np.asarray(embedded.seqs, dtype=np.int64), embedded.file_ids, matrix
                )
                self._keep(store_id, cached)
            else:
                self._cache.move_to_end(store_id)
            out.append(cached)
        return out

    def _keep(self, store_id: str, vectors: _Vectors) -> None:
        self._cache[store_id] = vectors
        total = sum(v.matrix.nbytes for v in self._cache.values())
        while total > self._cache_bytes and self._cache:
            _, dropped = self._cache.popitem(last=False)
            total -= dropped.matrix.nbytes
