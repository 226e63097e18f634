"""Text analysis: CJK bigrams in the search text and in query terms, the query quoting of both databases,
and the whole design end to end on a real SQLite FTS5 index (tokenizer unicode61, ranked by bm25)."""

# ruff: noqa: RUF001  (CJK text is written with its own full-width punctuation)

from __future__ import annotations

import sqlite3
from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.engine.retrieval.analyze import bigrams, fts5_query, index_text, query_terms, tsquery


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Refund policy: 30 days, no questions.", "Refund policy 30 days no questions "),
        ("退款政策 refund policy 返金ポリシー", "退款 款政 政策 refund policy 返金 金ポ ポリ リシ シー"),
        ("退款政策适用", "退款 款政 政策 策适 适用"),  # Chinese
        ("返金ポリシーについて", "返金 金ポ ポリ リシ シー ーに につ つい いて"),  # kanji, katakana, hiragana
        ("한국어 사전", "한국 국어 사전"),  # hangul syllables
        ("猫 is a cat; 我", "猫 is a cat 我"),  # single-character runs stay as they are
        ("人々は時々", "人々 々は は時 時々"),  # the iteration mark is part of the run
        ("退款，政策。", "退款 政策 "),  # CJK punctuation separates runs, as a space
        ("ポリ・シー", "ポリ シー"),  # the katakana middle dot is punctuation, not a letter
        ("iPhone手机", "iPhone 手机"),  # set apart from adjacent letters and digits ...
        ("第3章abc", "第 3 章 abc"),
        ("(退款)", " 退款 "),  # punctuation is a space
        ("ﾎﾟﾘｼｰ", "ﾎﾟ ﾟﾘ ﾘｼ ｼｰ"),  # halfwidth katakana with its voicing and length marks
        ("𠀀𠀁", "𠀀𠀁"),  # Extension B ideographs
        ("豈更車", "豈更 更車"),  # compatibility ideographs
        ("v2.0 example.com/a_b", "v2 0 example com a b"),  # nothing left for a tokenizer to keep whole
        ("", ""),
    ],
)
def test_index_text(text: str, expected: str) -> None:
    assert index_text(text) == expected


def test_bigrams() -> None:
    assert bigrams("退款政策") == ["退款", "款政", "政策"]
    assert bigrams("猫") == ["猫"]
    assert bigrams("") == [""]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("Refund POLICY, refund policy!", ["refund", "policy"]),  # lowercased, distinct, first-seen order
        (
            "what is the refund_policy v2.0 for 30 days",
            ["what", "is", "the", "refund", "policy", "v2", "0", "for", "30", "days"],
        ),
        ("退款政策是什么", ["退款", "款政", "政策", "策是", "是什", "什么"]),
        ("返金ポリシーについて", ["返金", "金ポ", "ポリ", "リシ", "シー", "ーに", "につ", "つい", "いて"]),
        ("한국어 사전?", ["한국", "국어", "사전"]),
        ("猫 and 犬", ["猫", "and", "犬"]),
        ("iPhone手机", ["iphone", "手机"]),
        ("Straße ÉCOLE", ["straße", "école"]),  # lower(), not casefold(): "straße" stays as indexed
        ("\"quoted\" 'it''s' a\\b -- * NEAR(x)", ["quoted", "it", "s", "a", "b", "near", "x"]),
        ("... !!! ___", []),
        ("", []),
    ],
)
def test_query_terms(query: str, expected: list[str]) -> None:
    assert query_terms(query) == expected


def test_query_terms_limit() -> None:
    query = " ".join(f"w{i}" for i in range(100))
    assert query_terms(query) == [f"w{i}" for i in range(64)]
    assert query_terms(query, limit=3) == ["w0", "w1", "w2"]
    assert query_terms("退款政策", limit=2) == ["退款", "款政"]  # the limit cuts inside a CJK run too
    assert query_terms("a a a b", limit=2) == ["a", "b"]  # repeats do not count
    assert query_terms("a b", limit=0) == []


def test_fts5_query_quoting() -> None:
    assert fts5_query(["refund", "policy", "退款"]) == '"refund" OR "policy" OR "退款"'
    assert fts5_query(['say "hi"', "x"]) == '"say ""hi""" OR "x"'
    assert fts5_query([]) == fts5_query([""]) == ""
    assert fts5_query(["", "x"]) == '"x"'


def test_tsquery_quoting() -> None:
    assert tsquery(["refund", "policy"]) == "'refund' | 'policy'"
    assert tsquery(["it's", "a\\b", "\\'"]) == "'it''s' | 'a\\\\b' | '\\\\'''"
    assert tsquery([]) == tsquery([""]) == ""  # PostgreSQL rejects the empty lexeme ''
    assert tsquery(["", "x"]) == "'x'"


@pytest.fixture
def fts() -> Iterator[sqlite3.Connection]:
    db = sqlite3.connect(":memory:")
    db.execute("CREATE VIRTUAL TABLE chunks USING fts5(body, tokenize='unicode61')")
    yield db
    db.close()


DOCUMENTS = {
    "en-refund": "Refund policy: customers may return unused items within 30 days for a full refund.",
    "en-shipping": "Shipping policy: orders leave the warehouse within two days; delivery takes a week.",
    "zh-refund": "退款政策：客户可在三十天内退回未使用的商品并获得全额退款。",
    "zh-shipping": "配送政策：订单在两天内发货，送达需要一周。",
    "ja-refund": "返金ポリシー：未使用の商品は30日以内に返品すると全額返金されます。",
    "ja-shipping": "配送ポリシー：ご注文は二日以内に発送され、お届けまで一週間かかります。",
    "ko-refund": "환불 정책: 미사용 상품은 30일 이내에 반품하면 전액 환불됩니다.",
}


def search(db: sqlite3.Connection, query: str) -> list[str]:
    expression = fts5_query(query_terms(query))
    if not expression:
        return []
    rows = db.execute(
        "SELECT name FROM names JOIN chunks ON chunks.rowid = names.id"
        " WHERE chunks MATCH ? ORDER BY bm25(chunks), names.id",
        (expression,),
    )
    return [name for (name,) in rows]


@pytest.fixture
def indexed(fts: sqlite3.Connection) -> sqlite3.Connection:
    fts.execute("CREATE TABLE names (id INTEGER PRIMARY KEY, name TEXT)")
    for i, (name, body) in enumerate(DOCUMENTS.items(), start=1):
        fts.execute("INSERT INTO names (id, name) VALUES (?, ?)", (i, name))
        fts.execute("INSERT INTO chunks (rowid, body) VALUES (?, ?)", (i, index_text(body)))
    return fts


@pytest.mark.parametrize(
    ("query", "best"),
    [
        ("退款政策是什么", "zh-refund"),
        ("返金ポリシーについて", "ja-refund"),
        ("配送政策", "zh-shipping"),
        ("配送ポリシーは", "ja-shipping"),
        ("What is the refund policy?", "en-refund"),
        ("how long does delivery take", "en-shipping"),
        ("환불 정책", "ko-refund"),
    ],
)
def test_fts5_ranks_the_right_document_first(indexed: sqlite3.Connection, query: str, best: str) -> None:
    assert search(indexed, query)[0] == best


def test_fts5_cjk_words_match_inside_sentences(indexed: sqlite3.Connection) -> None:
    # Without bigrams a whole CJK sentence is one unicode61 token and no word inside it matches.
    assert set(search(indexed, "全额")) == {"zh-refund"}
    assert set(search(indexed, "ポリシー")) == {"ja-refund", "ja-shipping"}
    assert search(indexed, "nothing matches this") == []
    assert search(indexed, "?!") == []


def test_fts5_unbigrammed_text_finds_nothing(fts: sqlite3.Connection) -> None:
    """The reason for the design: indexed as is, a Chinese sentence is not found by its words."""
    fts.execute("INSERT INTO chunks (rowid, body) VALUES (1, ?)", (DOCUMENTS["zh-refund"],))
    rows = fts.execute("SELECT rowid FROM chunks WHERE chunks MATCH ?", (fts5_query(["退款"]),)).fetchall()
    assert rows == []


@pytest.mark.parametrize(
    ("terms", "found"),
    [
        (['say "hi"'], True),  # the phrase "say hi"
        (['"'], False),
        (['x"', 'OR "zzz'], True),  # unbalanced quotes
        (["OR", "AND", "NOT"], True),  # words, not operators
        (["NEAR(", "*"], True),  # the word "near"
        (["*", "^", ":", "-", "+"], False),
        (["nosuchcolumn:x"], False),  # unquoted, a column filter: an error
        (["{body}: x"], True),  # the phrase "body x", not a column filter
        (["", "x"], True),
    ],
)
def test_fts5_query_hostile_terms_are_plain_strings(
    fts: sqlite3.Connection, terms: list[str], found: bool
) -> None:
    fts.execute("INSERT INTO chunks (rowid, body) VALUES (1, 'say hi or and not near body x')")
    rows = fts.execute("SELECT rowid FROM chunks WHERE chunks MATCH ?", (fts5_query(terms),)).fetchall()
    assert rows == ([(1,)] if found else [])


ALPHABET = st.sampled_from(
    list("abcXYZ019 ,.;!?'\"_-\n\t")
    + list("退款政策是什么猫犬")
    + list("返金ポリシーについて々")
    + list("한국어사전")
)


@settings(max_examples=300, deadline=None)
@given(st.text(ALPHABET, max_size=40))
def test_fts5_every_text_finds_itself(text: str) -> None:
    """Whatever the text, a query made of it matches its own search text: query terms and indexed
    tokens are cut the same way."""
    db = sqlite3.connect(":memory:")
    try:
        db.execute("CREATE VIRTUAL TABLE chunks USING fts5(body, tokenize='unicode61')")
        db.execute("INSERT INTO chunks (rowid, body) VALUES (1, ?)", (index_text(text),))
        for term in query_terms(text, limit=1000):
            hits = db.execute("SELECT rowid FROM chunks WHERE chunks MATCH ?", (fts5_query([term]),))
            assert hits.fetchall() == [(1,)], term
    finally:
        db.close()


@given(st.text(ALPHABET, max_size=60))
def test_index_text_is_idempotent(text: str) -> None:
    once = index_text(text)
    assert index_text(once) == once


def test_search_terms_drop_stop_words_unless_nothing_else_is_left() -> None:
    from gateway.engine.retrieval.analyze import search_terms

    assert search_terms("What is the refund policy of the store?") == ["what", "refund", "policy", "store"]
    assert search_terms("of the") == ["of", "the"]  # nothing else: kept, so something is still found
    assert search_terms("退款 and the policy") == ["退款", "policy"]
