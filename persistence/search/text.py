"""How search reads text: folding, n-grams and the highlighted snippet, in Python, so that
SQLite and PostgreSQL index and match exactly alike (``docs/design/0023-search.md``).

* **Folding** (index and query alike), one character at a time so that every folded character
  points back at the character of the original it came from (the snippet marks the original):
  NFKC (full-width ``ＡＢＣ１２３`` → ``abc123``, compatibility ideographs to unified ones), case
  folding, format characters (zero-width spaces and joiners) dropped, then OpenCC's
  Traditional → Simplified character table (``t2s``), which also joins the variants it knows
  (臺/台, 裏/裡, 綫/線, 峯/峰 …): a Traditional text, its variants and Simplified input all fold
  to one key, so 台北 finds 臺北 and 电梯 finds 電梯. Folding to Simplified rather than to
  Traditional is deliberate: Traditional → Simplified is many-to-one and so the same for a
  character whatever surrounds it, while Simplified → Traditional is one-to-many (发 → 發/髮) and
  depends on the phrase, which n-grams cannot see.
* **Spaces**: runs of white space become one space, and vanish next to a CJK character (Chinese
  is written without spaces, and a resident who types 停車位 wants ``停車 位`` and ``WiFi 密碼``
  as well as 停車位 and WiFi密碼).
* **Tokens**: a run of CJK characters gives its characters (unigrams, so that a 1-character
  query works) and its adjacent pairs (bigrams: most Chinese words are two characters, so 停水
  is one token); a run of other letters and digits is one word. The store keeps a posting per
  distinct token and document; a query's tokens find the candidates and the folded text's
  substring match confirms the order (``停車位`` needs 停車 and 車位 adjacent, in that order).
"""

from __future__ import annotations

import functools
import html
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass

import opencc

#: Postings per document are bounded: a very long text indexes its first this many characters
#: (a notice of 20,000 characters is a book; its beginning is what people search).
MAX_INDEXED_CHARS = 20_000
#: At most this many tokens of one query term are looked up; the substring match checks the rest.
MAX_TERM_TOKENS = 4
#: Characters of context each side of the first match in a snippet.
SNIPPET_CONTEXT = 40

_T2S = opencc.OpenCC("t2s.json")


def is_cjk(char: str) -> bool:
    """Han ideographs (with extensions and compatibility forms), kana and Hangul: scripts written
    without spaces, which are indexed by n-grams."""
    code = ord(char)
    return (
        0x3400 <= code <= 0x4DBF
        or 0x4E00 <= code <= 0x9FFF
        or 0xF900 <= code <= 0xFAFF
        or 0x20000 <= code <= 0x3134F
        or 0x3040 <= code <= 0x30FF  # hiragana, katakana
        or 0xAC00 <= code <= 0xD7AF  # Hangul syllables
        or code == 0x3007  # 〇
    )


@functools.lru_cache(maxsize=65_536)
def fold_char(char: str) -> str:
    """What one character of a text becomes in the folded text (possibly nothing or several)."""
    out = []
    for part in unicodedata.normalize("NFKC", char).casefold():
        if unicodedata.category(part) == "Cf":
            continue
        if part.isspace():
            out.append(" ")
        elif is_cjk(part):
            simple = _T2S.convert(part)
            out.append(simple if len(simple) == 1 else part)
        else:
            out.append(part)
    return "".join(out)


@dataclass(frozen=True, slots=True)
class Folded:
    #: The folded text.
    text: str
    #: For each character of ``text``, the index of the original character it came from.
    origin: tuple[int, ...]


def fold_mapped(text: str) -> Folded:
    """``text`` folded (see the module docstring), with each folded character's origin."""
    chars: list[str] = []
    origin: list[int] = []
    for index, char in enumerate(text):
        for part in fold_char(char):
            if part == " ":
                # One space at most, none at the start, none after a CJK character.
                if not chars or chars[-1] == " " or is_cjk(chars[-1]):
                    continue
            elif is_cjk(part) and chars and chars[-1] == " ":
                chars.pop()
                origin.pop()
            chars.append(part)
            origin.append(index)
    if chars and chars[-1] == " ":
        chars.pop()
        origin.pop()
    return Folded("".join(chars), tuple(origin))


def fold(text: str) -> str:
    return fold_mapped(text).text


def _runs(folded: str) -> Iterator[tuple[bool, str]]:
    """The folded text's runs: (True, CJK run) or (False, word of letters and digits)."""
    start = 0
    kind: bool | None = None  # None: in a separator
    for index, char in enumerate(folded):
        now: bool | None = True if is_cjk(char) else (False if char.isalnum() else None)
        if now != kind:
            if kind is not None:
                yield kind, folded[start:index]
            start, kind = index, now
    if kind is not None:
        yield kind, folded[start:]


def run_tokens(cjk: bool, run: str) -> list[str]:
    if not cjk:
        return [run]
    if len(run) == 1:
        return [run]
    return [run[i : i + 2] for i in range(len(run) - 1)]


def tokens(folded: str) -> set[str]:
    """The distinct tokens a folded text is indexed by: each CJK character and adjacent pair,
    each word."""
    found: set[str] = set()
    for cjk, run in _runs(folded[:MAX_INDEXED_CHARS]):
        if cjk:
            found.update(run)
            found.update(run[i : i + 2] for i in range(len(run) - 1))
        else:
            found.add(run)
    return found


@dataclass(frozen=True, slots=True)
class Term:
    """One term of a query (the query split at white space), folded."""

    #: The folded term, matched as a substring of the folded text.
    folded: str
    #: The tokens looked up (at most ``MAX_TERM_TOKENS``): bigrams of its CJK runs (a lone
    #: character is a unigram), its words.
    tokens: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ParsedQuery:
    terms: tuple[Term, ...]
    #: The whole query folded: a text containing it is an exact-phrase hit (ranked first).
    phrase: str


def parse_query(query: str) -> ParsedQuery:
    """The query's terms; a term with no letter, digit or CJK character is dropped (it could
    only match everything or nothing)."""
    terms: list[Term] = []
    seen: set[str] = set()
    for raw in query.split():
        folded = fold(raw).replace(" ", "")
        if not folded or folded in seen:
            continue
        found: list[str] = []
        for cjk, run in _runs(folded):
            for token in run_tokens(cjk, run):
                if token not in found:
                    found.append(token)
        if not found:
            continue
        seen.add(folded)
        terms.append(Term(folded, tuple(_spread(found, MAX_TERM_TOKENS))))
    return ParsedQuery(tuple(terms), fold(query))


def _spread(items: list[str], most: int) -> list[str]:
    """At most ``most`` of ``items``, first and last kept, the rest evenly between."""
    if len(items) <= most:
        return items
    step = (len(items) - 1) / (most - 1)
    return [items[round(i * step)] for i in range(most)]


def match_spans(text: str, query: ParsedQuery) -> list[tuple[int, int]]:
    """Where the query's terms occur in the original ``text``, as merged [start, end) spans."""
    folded = fold_mapped(text)
    spans: list[tuple[int, int]] = []
    for term in query.terms:
        start = folded.text.find(term.folded)
        while start != -1:
            end = start + len(term.folded)
            spans.append((folded.origin[start], folded.origin[end - 1] + 1))
            start = folded.text.find(term.folded, end)
    spans.sort()
    merged: list[tuple[int, int]] = []
    for start, end in spans:
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def snippet_html(text: str, query: ParsedQuery, *, context: int = SNIPPET_CONTEXT) -> str:
    """An escaped excerpt of ``text`` around its first match, each match in ``<mark>``; the
    text's beginning when nothing matches (a hit on the title)."""
    line = " ".join(text.split())
    spans = match_spans(line, query)
    if spans:
        begin = max(0, spans[0][0] - context)
        end = min(len(line), spans[0][1] + context * 2)
    else:
        begin, end = 0, min(len(line), context * 3)
    out = ["…" if begin > 0 else ""]
    cursor = begin
    for start, stop in spans:
        if stop <= begin or start >= end:
            continue
        start, stop = max(start, begin), min(stop, end)
        out.append(html.escape(line[cursor:start]))
        out.append(f"<mark>{html.escape(line[start:stop])}</mark>")
        cursor = stop
    out.append(html.escape(line[cursor:end]))
    if end < len(line):
        out.append("…")
    return "".join(out)


def like_pattern(folded: str) -> str:
    """A ``LIKE … ESCAPE '\\'`` pattern finding ``folded`` anywhere."""
    escaped = folded.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"
