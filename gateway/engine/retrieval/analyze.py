"""One text analysis for indexing and for querying, so that keyword search behaves the same on SQLite
(FTS5, tokenizer `unicode61`) and on PostgreSQL (`to_tsvector('simple', ...)`).

Both databases split words on spaces and punctuation. Chinese and Japanese put no spaces between
words, so a whole sentence would become one token and a query word would never match it. The search
text of a chunk therefore rewrites every run of CJK characters (ideographs, kana, hangul syllables) as
its overlapping character bigrams separated by spaces, as Lucene's CJKAnalyzer does: "退款政策" becomes
"退款 款政 政策", so a query containing "退款" or "政策" matches. A run of one character stays as it
is. A CJK run is also set apart by a space from an adjacent letter or digit ("iPhone手机" -> "iPhone
手机"), or the tokenizer would glue them into one token. Everything that is not a letter or digit
(punctuation, `_`, symbols) becomes a space too, so that the databases' tokenizers have nothing left to
decide: PostgreSQL's parser would otherwise keep `v2.0`, `example.com` or a path as one token, which
the query's terms (`v2`, `0`) would never match, while SQLite's splits them.

A query is cut into the same units by `query_terms`: words of other scripts (runs of letters and
digits) and the bigrams of CJK runs. `fts5_query` and `tsquery` OR them into each database's query
syntax; the database's rank function (bm25, ts_rank) then favours chunks matching more, and rarer,
terms.

Which characters count as CJK: CJK Unified Ideographs with Extensions A to I, the compatibility
ideographs (and their supplement), the iteration marks 々 and ゝゞ, Hiragana and Katakana letters
(with the prolonged sound mark ー, the phonetic extensions and halfwidth katakana) and Hangul
syllables. Only letters are listed: the kana punctuation (・ and the double hyphen U+30A0) and the
spacing voicing marks (゛゜) are separators for both tokenizers and for `query_terms` alike.
"""

from __future__ import annotations

import re
from operator import add

# A regex character-class body (no brackets) of the CJK letters.
CJK_CLASS = (
    "\u3005"  # 々 ideographic iteration mark
    "\u3041-\u3096\u309d-\u309f"  # hiragana letters, ゝゞ iteration marks, ゟ
    "\u30a1-\u30fa\u30fc-\u30ff"  # katakana letters, ー prolonged sound mark, ヽヾ, ヿ
    "\u31f0-\u31ff"  # katakana phonetic extensions
    "\u3400-\u4dbf"  # CJK Unified Ideographs Extension A
    "\u4e00-\u9fff"  # CJK Unified Ideographs
    "\uac00-\ud7a3"  # Hangul syllables
    "\uf900-\ufaff"  # CJK compatibility ideographs
    "\uff66-\uff9f"  # halfwidth katakana (with ｰ and the halfwidth voicing marks)
    "\U00020000-\U000323af"  # Extensions B to I, compatibility ideographs supplement
)
_CJK_RUN = re.compile(f"[{CJK_CLASS}]+")
_SEPARATORS = re.compile(r"[\W_]+")
# A CJK run (group 1), or a run of other letters and digits.
_TERM = re.compile(f"([{CJK_CLASS}]+)|[^\\W_{CJK_CLASS}]+")


def bigrams(run: str) -> list[str]:
    """The overlapping character pairs of a CJK run; a run of one character is its own only unit."""
    if len(run) < 2:
        return [run]
    return list(map(add, run[:-1], run[1:]))


def _spaced_bigrams(match: re.Match[str]) -> str:
    run, text = match.group(), match.string
    start, end = match.span()
    out = " ".join(bigrams(run))
    if start > 0 and text[start - 1].isalnum():
        out = " " + out
    if end < len(text) and text[end].isalnum():
        out += " "
    return out


def index_text(text: str) -> str:
    """The search text of a chunk: its words and CJK bigrams (the units `query_terms` makes), separated
    by single spaces."""
    return _SEPARATORS.sub(" ", _CJK_RUN.sub(_spaced_bigrams, text))


def query_terms(query: str, limit: int = 64) -> list[str]:
    """The distinct terms of a query in first-seen order, at most `limit`: lowercased words of other
    scripts (letters and digits; `_` and punctuation separate), and the bigrams of CJK runs.

    Lowercasing uses `str.lower`, not `casefold`: both databases lowercase but neither applies full
    case folding, so a folded "strasse" would miss an indexed "straße". Stop words are kept.
    """
    terms: dict[str, None] = {}
    if limit <= 0:
        return []
    for match in _TERM.finditer(query):
        run = match.group(1)
        for term in bigrams(run) if run else (match.group().lower(),):
            terms.setdefault(term)
            if len(terms) >= limit:
                return list(terms)
    return list(terms)


STOP_WORDS = frozenset(
    "a an and are as at be but by for if in into is it no not of on or such that the their then there "  # noqa: SIM905
    "these they this to was will with".split()
)
"""English words too common to rank by (Lucene's English stop set): dropped from a query that has others."""


def search_terms(query: str, limit: int = 64) -> list[str]:
    """`query_terms` without English stop words, unless the query holds nothing else: they match most
    chunks, which makes a search both slower (every match is ranked) and no better."""
    terms = query_terms(query, limit)
    kept = [t for t in terms if t not in STOP_WORDS]
    return kept or terms


def fts5_query(terms: list[str]) -> str:
    """An FTS5 MATCH expression ORing the terms as quoted strings (`"a" OR "b"`). Empty terms are
    skipped; "" for no terms, for which the caller must not run a query (an empty MATCH is an error)."""
    return " OR ".join('"' + term.replace('"', '""') + '"' for term in terms if term)


def tsquery(terms: list[str]) -> str:
    """A `to_tsquery('simple', ...)` text ORing the terms as quoted lexemes (`'a' | 'b'`). Quotes are
    doubled and backslashes escaped, so no term can change the query's structure. Empty terms are
    skipped (PostgreSQL rejects `''`); "" for no terms, for which the caller must not run a query."""
    return " | ".join("'" + term.replace("\\", "\\\\").replace("'", "''") + "'" for term in terms if term)
