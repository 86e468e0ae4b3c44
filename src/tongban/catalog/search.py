"""Chinese search over the published catalogue.

Indexing: titles and keywords are segmented with jieba (plus a user dictionary of government terms), and
every title suffix is also indexed as full pinyin and as pinyin initials, so that "sfz", "shenfenzheng" and
"身份证" all find 居民身份证 items by prefix. The text goes into SearchDocument; the database's own full-text
engine indexes it (SQLite FTS5 external-content table kept by triggers; PostgreSQL generated tsvector with a
GIN index).

Querying: colloquial phrases are expanded with synonyms (生孩子 → 出生 生育), the query is segmented the same
way, each token is quoted (no FTS syntax from the user ever reaches the engine), and hits are ranked by
text relevance, title matches and popularity. When nothing matches, a cheap typo fallback compares the
query with titles. Search never raises on user input.
"""

from __future__ import annotations

import difflib
import functools
import logging
import math
import re
import threading
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import jieba
from django.db import DatabaseError, connection
from django.db.models import Q
from pypinyin import Style, lazy_pinyin

from .models import LifeEvent, SearchDocument, ServiceItem, ServiceItemVersion, Theme

log = logging.getLogger(__name__)
jieba.setLogLevel(logging.WARNING)
DATA = Path(__file__).parent / "data"
MAX_QUERY = 60
STOPWORDS = frozenset(
    [
        "的",
        "了",
        "和",
        "与",
        "及",
        "或",
        "我",
        "我们",
        "你",
        "他",
        "她",
        "要",
        "想",
        "需要",
        "怎么",
        "怎样",
        "如何",
        "哪里",
        "在哪",
        "去哪",
        "办理",
        "办",
        "申请",
        "需要",
        "什么",
        "吗",
        "呢",
        "啊",
        "一下",
        "可以",
        "能",
        "么",
        "请问",
        "手续",
        "流程",
    ]
)
_CJK = re.compile(r"[\u3400-\u9fff]")
_lock = threading.Lock()


@functools.cache
def _tokenizer() -> jieba.Tokenizer:
    with _lock:
        tokenizer = jieba.Tokenizer()
        tokenizer.load_userdict(str(DATA / "userdict.txt"))
        tokenizer.initialize()
        return tokenizer


@functools.cache
def synonyms() -> list[tuple[str, str]]:
    """(colloquial phrase, canonical terms) pairs, longest phrase first."""
    pairs = []
    for line in (DATA / "synonyms.txt").read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            phrase, terms = line.split("=", 1)
            pairs.append((phrase.strip(), terms.strip()))
    return sorted(pairs, key=lambda p: -len(p[0]))


def normalise(text: str) -> str:
    text = unicodedata.normalize("NFKC", text or "")[: MAX_QUERY * 4]
    text = "".join(c if c.isalnum() or _CJK.match(c) else " " for c in text)
    return " ".join(text.lower().split())[:MAX_QUERY]


def segment(text: str, *, for_query: bool = False) -> list[str]:
    """Index text in search mode (long words and their parts); queries in precise mode, which yields whole
    words only: every one of them is in the index, and the parts would match far too much."""
    words = []
    cut = _tokenizer().cut(text) if for_query else _tokenizer().cut_for_search(text)
    for word in cut:
        word = word.strip().lower()
        if word and word not in STOPWORDS and (word.isalnum() or _CJK.search(word)):
            words.append(word)
    return words


def _pinyin_terms(title: str) -> list[str]:
    words = [w for w in _tokenizer().cut(title) if w.strip()]
    terms = []
    for i in range(len(words)):
        suffix = "".join(words[i:])
        full = "".join(lazy_pinyin(suffix, errors="ignore")).lower()
        initials = "".join(lazy_pinyin(suffix, style=Style.FIRST_LETTER, errors="ignore")).lower()
        terms += [full, initials]
    return [t for t in dict.fromkeys(terms) if t]


@dataclass
class SearchHit:
    kind: str
    object_id: int
    title: str
    department: str
    score: float


# ---- indexing ------------------------------------------------------------------------------------------


def _document_text(title: str, extra: list[str], keywords: str = "") -> tuple[str, str]:
    tokens = segment(title) * 2 + [t for part in [keywords, *extra] for t in segment(part)]
    # The title's characters too: the typo fallback finds candidates sharing characters with the query.
    tokens += list(dict.fromkeys(_CJK.findall(title)))
    # Pinyin of the title's suffixes and of each keyword, so "sbk" finds 社保卡 and "jiazhao" 驾照.
    pinyin = _pinyin_terms(title) + [t for word in keywords.split() for t in _pinyin_terms(word)]
    return " ".join(tokens), " ".join(dict.fromkeys(pinyin))


def item_document(item: ServiceItem, version: ServiceItemVersion, themes: list[Theme]) -> SearchDocument:
    """The (unsaved) search document of a published item version."""
    department = item.department
    tokens, pinyin = _document_text(
        version.name,
        [
            department.name,
            department.short_name,
            department.sector,
            version.result_name,
            " ".join(t.name for t in themes),
            version.summary[:200],
        ],
        keywords=version.keywords,
    )
    return SearchDocument(
        kind="item",
        object_id=item.pk,
        title=version.name,
        department=department,
        area_code=department.area.code,
        applicant_types=" " + " ".join(version.applicant_types) + " ",
        themes=" " + " ".join(t.code for t in themes) + " ",
        tokens=tokens,
        pinyin=pinyin,
        popularity=item.popularity,
    )


def index_item(item: ServiceItem, version: ServiceItemVersion, themes: list[Theme] | None = None) -> None:
    doc = item_document(item, version, list(version.themes.all()) if themes is None else themes)
    fields = [
        "title",
        "department",
        "area_code",
        "applicant_types",
        "themes",
        "tokens",
        "pinyin",
        "popularity",
    ]
    SearchDocument.objects.update_or_create(
        kind="item", object_id=item.pk, defaults={name: getattr(doc, name) for name in fields}
    )


def index_items_bulk(documents: list[SearchDocument]) -> None:
    """Insert documents for items that have none yet (the importer's fast path)."""
    SearchDocument.objects.bulk_create(documents, batch_size=500)


def unindex_item(item: ServiceItem) -> None:
    SearchDocument.objects.filter(kind="item", object_id=item.pk).delete()


def index_life_event(event: LifeEvent) -> None:
    themes = list(event.themes.all())
    names = [
        e.item.published_version.name
        for e in event.entries.select_related("item__published_version")
        if e.item.published_version
    ]
    tokens, pinyin = _document_text(
        event.name,
        [event.summary[:200], " ".join(names), " ".join(t.name for t in themes)],
        keywords=event.keywords,
    )
    applicant = "person" if event.audience == "person" else "organisation"
    SearchDocument.objects.update_or_create(
        kind="event",
        object_id=event.pk,
        defaults={
            "title": event.name,
            "department": None,
            "area_code": "",
            "applicant_types": f" {applicant} ",
            "themes": " " + " ".join(t.code for t in themes) + " ",
            "tokens": tokens,
            "pinyin": pinyin,
            "popularity": event.popularity,
        },
    )


def unindex_life_event(event: LifeEvent) -> None:
    SearchDocument.objects.filter(kind="event", object_id=event.pk).delete()


def reindex_all() -> int:
    SearchDocument.objects.all().delete()
    count = 0
    for item in ServiceItem.objects.filter(published_version__isnull=False).select_related(
        "published_version", "department__area"
    ):
        index_item(item, item.published_version)
        count += 1
    for event in LifeEvent.objects.filter(status="published"):
        index_life_event(event)
        count += 1
    return count


# ---- querying ------------------------------------------------------------------------------------------


def expand(query: str) -> str:
    extra = [terms for phrase, terms in synonyms() if phrase in query]
    return " ".join([query, *extra])


def query_terms(query: str) -> tuple[list[str], list[str]]:
    """(Chinese tokens, pinyin prefixes) for a normalised query."""
    words = []
    pinyin = []
    for part in expand(query).split():
        if part.isascii() and part.isalpha():
            if len(part) >= 2:  # a single letter is a prefix of half the index
                pinyin.append(part.lower())
        else:
            words += segment(part, for_query=True)
    words = list(dict.fromkeys(words))
    # Single characters match a large share of the catalogue (titles' characters are indexed for the typo
    # fallback); they count only when the query has nothing longer.
    longer = [w for w in words if len(w) > 1]
    return (longer or words)[:24], list(dict.fromkeys(pinyin))[:6]


def search(
    query: str,
    *,
    applicant_type: str | None = None,
    department_id: int | None = None,
    theme: str | None = None,
    area_code: str | None = None,
    limit: int = 20,
) -> list[SearchHit]:
    """Ranked hits; an empty list for an empty or meaningless query. Never raises on user input."""
    text = normalise(query)
    if not text:
        return []
    words, pinyin = query_terms(text)
    if not words and not pinyin:
        return []
    filters = _Filters(applicant_type, department_id, theme, area_code)
    try:
        hits = _run(words, pinyin, filters, limit)
        if _weak(expand(text), hits):
            # A mistyped character leaves only weak matches: put titles close to the query first.
            typo = _typo_fallback(text, filters, limit)
            seen = {(h.kind, h.object_id) for h in typo}
            hits = (typo + [h for h in hits if (h.kind, h.object_id) not in seen])[:limit]
    except DatabaseError:
        log.exception("search failed for %r", text)
        return []
    return hits


@dataclass
class _Filters:
    applicant_type: str | None
    department_id: int | None
    theme: str | None
    area_code: str | None

    def sql(self) -> tuple[str, list[object]]:
        clauses, params = [], []
        if self.applicant_type:
            clauses.append("d.applicant_types LIKE %s")
            params.append(f"% {self.applicant_type} %")
        if self.department_id:
            clauses.append("d.department_id = %s")
            params.append(self.department_id)
        if self.theme:
            clauses.append("d.themes LIKE %s")
            params.append(f"% {self.theme} %")
        if self.area_code:
            # Items of the area and of every level above it (a district's residents use city and province
            # services too), never a sibling district's; bundles carry no area.
            areas = area_and_above(self.area_code)
            clauses.append(f"d.area_code IN ('', {', '.join(['%s'] * len(areas))})")
            params += areas
        return ("".join(f" AND {c}" for c in clauses), params)


def area_and_above(code: str) -> list[str]:
    """The GB/T 2260 codes of an area and its ancestors: 339902001 → 330000, 339900, 339902, 339902001."""
    chain = [code[:2] + "0000", code[:4] + "00", code[:6], code]
    return list(dict.fromkeys(c for c in chain if len(c) in (6, 9) and c.isdigit()))


def _quote(term: str) -> str:
    return '"' + term.replace('"', "") + '"'


def _run(words: list[str], pinyin: list[str], filters: _Filters, limit: int) -> list[SearchHit]:
    where, params = filters.sql()
    if connection.vendor == "postgresql":
        parts = [f"'{w.replace(chr(39), '')}'" for w in words] + [f"'{p}':*" for p in pinyin]
        tsquery = " | ".join(parts)
        # WHERE fragments come from _Filters (fixed text); every value is a query parameter.
        sql = (
            "SELECT d.kind, d.object_id, d.title, coalesce(dep.short_name, ''), "  # noqa: S608 (fixed fragments; values are parameters)
            "ts_rank(d.search_vector, to_tsquery('simple', %s)) AS relevance, d.popularity, d.tokens, d.pinyin "
            "FROM catalog_searchdocument d LEFT JOIN identity_department dep ON dep.id = d.department_id "
            f"WHERE d.search_vector @@ to_tsquery('simple', %s){where} "
            "ORDER BY relevance DESC LIMIT 200"
        )
        rows = _fetch(sql, [tsquery, tsquery, *params])
    else:
        parts = [f"tokens:{_quote(w)}" for w in words] + [f"pinyin:{_quote(p)}*" for p in pinyin]
        match = " OR ".join(parts)
        sql = (
            "SELECT d.kind, d.object_id, d.title, coalesce(dep.short_name, ''), -bm25(catalog_search_fts) AS relevance, "  # noqa: S608
            "d.popularity, d.tokens, d.pinyin FROM catalog_search_fts JOIN catalog_searchdocument d ON d.id = catalog_search_fts.rowid "
            "LEFT JOIN identity_department dep ON dep.id = d.department_id "
            f"WHERE catalog_search_fts MATCH %s{where} ORDER BY relevance DESC LIMIT 200"
        )
        rows = _fetch(sql, [match, *params])
    hits = [
        SearchHit(
            kind,
            object_id,
            title,
            department,
            _score(words, pinyin, title, tokens, pinyin_terms, popularity, kind) + 0.01 * float(relevance),
        )
        for kind, object_id, title, department, relevance, popularity, tokens, pinyin_terms in rows
    ]
    hits.sort(key=lambda h: -h.score)
    return hits[:limit]


def _score(
    words: list[str],
    pinyin: list[str],
    title: str,
    tokens: str,
    pinyin_terms: str,
    popularity: int,
    kind: str,
) -> float:
    """The same ranking on every database: the engine picks candidates, this orders them. A matched word
    weighs its length (specific words count more), three times over when it is in the title."""
    token_set = set(tokens.split())
    score = 0.0
    for word in words:
        if word in title:
            score += 3 * len(word)
        elif word in token_set:
            score += len(word)
    if pinyin:
        terms = pinyin_terms.split()
        score += sum(4 * len(p) for p in pinyin if any(t.startswith(p) for t in terms))
    # A bundle is preferred when the words are in its own title, not merely in one of its items' names.
    bundle_bonus = 0.5 if kind == "event" and any(word in title for word in words) else 0.0
    return score + 0.3 * math.log1p(popularity) + bundle_bonus


def _fetch(sql: str, params: list[object]) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def _weak(text: str, hits: list[SearchHit]) -> bool:
    """No hit's title holds half of the query's Chinese characters (judged for short queries only)."""
    chars = set(_CJK.findall(text))
    if not chars or len(text) > 12:
        return not hits
    best = max((len(chars & set(h.title)) for h in hits), default=0)
    return best < len(chars) / 2 + 0.5


def _typo_fallback(text: str, filters: _Filters, limit: int) -> list[SearchHit]:
    """Titles close to the query (a wrong or missing character). The engine picks up to 200 candidates that
    share characters with the query; only those are compared, so the cost does not grow with the catalogue."""
    chars = list(dict.fromkeys(_CJK.findall(text)))
    if not chars or len(text) > 20:
        return []
    candidates = _run(chars, [], filters, 200)
    wanted = set(chars)
    scored = []
    for hit in candidates:
        # Mostly: how many of the query's characters the title has; then how alike the two read.
        shared = len(wanted & set(hit.title)) / len(wanted)
        if shared >= 0.5:
            ratio = difflib.SequenceMatcher(None, text, hit.title).ratio()
            scored.append(SearchHit(hit.kind, hit.object_id, hit.title, hit.department, shared + ratio / 2))
    scored.sort(key=lambda h: -h.score)
    return scored[:limit]


def suggest(prefix: str, *, limit: int = 8) -> list[str]:
    """Titles for the search box while typing: by title text, or by pinyin / initials prefix; titles that
    start with what was typed come first, then the popular ones."""
    text = normalise(prefix)
    if not text:
        return []
    try:
        if text.isascii() and text.replace(" ", "").isalpha():
            compact = text.replace(" ", "")
            rows = SearchDocument.objects.filter(
                Q(pinyin__icontains=f" {compact}") | Q(pinyin__istartswith=compact)
            )
            starts = lambda doc: doc.pinyin.startswith(compact) or doc.pinyin.split(" ", 2)[1:2] == [compact]  # noqa: E731
        else:
            rows = SearchDocument.objects.filter(title__contains=text)
            starts = lambda doc: doc.title.startswith(text)  # noqa: E731
        candidates = list(rows.only("title", "pinyin", "popularity").order_by("-popularity", "title")[:100])
    except DatabaseError:
        log.exception("suggest failed for %r", text)
        return []
    candidates.sort(key=lambda doc: not starts(doc))
    return list(dict.fromkeys(doc.title for doc in candidates))[:limit]
