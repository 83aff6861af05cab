"""Shared text analysis: sentence spans, and the stemmed terms that BM25 and the answerer match on."""

from __future__ import annotations

import gzip
import re
from functools import lru_cache
from importlib.resources import files

# Sentence ends: . ! ? (plus closing quotes) followed by a space and something that can open a sentence.
# By hand rather than nltk's Punkt: importing nltk costs 1.5 s of the 3 s cold-start budget of `ask`.
_SENTENCE_END = re.compile(r"""[.!?…]+['"’”)\]]*\s+(?=['"‘“(\[]?[A-Z0-9£$€])""")
_ABBREVIATIONS = {
    "mr",
    "mrs",
    "ms",
    "dr",
    "st",
    "sr",
    "jr",
    "prof",
    "gen",
    "sen",
    "rep",
    "gov",
    "no",
    "vs",
    "etc",
    "e.g",
    "i.e",
    "u.s",
    "u.k",
}

# Words a question is phrased with that say nothing about its topic.
QUESTION_WORDS = {
    "what",
    "when",
    "where",
    "which",
    "who",
    "whom",
    "whose",
    "why",
    "how",
    "mani",
    "much",
    "did",
    "doe",
    "do",
    "is",
    "are",
    "was",
    "were",
    "say",
    "said",
    "tell",
    "accord",
    "articl",
    "report",
}


def sentence_spans(text: str, start: int = 0, end: int | None = None) -> list[tuple[int, int]]:
    """Spans (absolute offsets into ``text``) of the sentences of ``text[start:end]``, whitespace trimmed."""
    end = len(text) if end is None else end
    spans: list[tuple[int, int]] = []
    for line in re.finditer(r"[^\n]+", text[start:end]):
        line_start = start + line.start()
        cursor = line_start
        for boundary in _SENTENCE_END.finditer(line.group()):
            before = line.group()[: boundary.start()].rsplit(None, 1)
            if before and before[-1].lower().rstrip(".") in _ABBREVIATIONS:
                continue
            spans.append((cursor, line_start + boundary.start() + len(boundary.group().rstrip())))
            cursor = line_start + boundary.end()
        spans.append((cursor, line_start + len(line.group())))
    return [_trim(text, a, b) for a, b in spans if text[a:b].strip()]


def _trim(text: str, a: int, b: int) -> tuple[int, int]:
    while a < b and text[a].isspace():
        a += 1
    while b > a and text[b - 1].isspace():
        b -= 1
    return a, b


@lru_cache(maxsize=1)
def _stemmer():
    import Stemmer

    return Stemmer.Stemmer("english")


def tokenize(texts: list[str], return_ids: bool = True):
    """The one tokenisation used everywhere: bm25s's, with English stop words and Snowball stems."""
    import bm25s

    return bm25s.tokenize(texts, stemmer=_stemmer(), stopwords="en", return_ids=return_ids, show_progress=False)


def terms(text: str) -> list[str]:
    """Stemmed content terms of one text, in order."""
    return tokenize([text], return_ids=False)[0]


_LOWER_WORD = re.compile(r"\b[a-z]+\b")  # lower case only: names are left as they are


def match_terms(text: str) -> list[str]:
    """``terms`` with irregular verb forms first put back to their base (wrote, written -> write; paid -> pay).

    The stemmer leaves those apart; this is for comparing a question with answer sentences. BM25
    keeps plain ``terms``, so the index does not depend on it.
    """
    return match_terms_of([text])[0]


def match_terms_of(texts: list[str]) -> list[list[str]]:
    """``match_terms`` of many texts in one tokenizer call (the answer stage's sentences: ~10x faster than one by one)."""
    forms = _irregular_verb_forms()
    base = [_LOWER_WORD.sub(lambda word: forms.get(word.group(), word.group()), text) for text in texts]
    return tokenize(base, return_ids=False) if base else []


@lru_cache(maxsize=1)
def _irregular_verb_forms() -> dict[str, str]:
    """Past forms not ending in -ed -> their verb, from lemminflect's inflection table.

    Read from its data file rather than through ``getLemma``: loading lemminflect's lookups takes
    0.4 s of the 3 s cold-start budget of ``assistant ask``; this takes 0.06 s.
    """
    forms: dict[str, str] = {}
    with gzip.open(files("lemminflect") / "resources" / "infl_lu.csv.gz", "rt", encoding="utf-8") as table:
        for line in table:  # lemma,verb,past,past participle,-ing,-s (alternatives joined by "/")
            if ",verb," in line:
                lemma, _, past, participle, *_ = line.rstrip("\n").split(",")
                for form in past.split("/") + participle.split("/"):
                    if form != lemma and not form.endswith("ed"):
                        forms.setdefault(form, lemma)
    return forms


def same_term(a: str, b: str) -> bool:
    """Stems match, or one is a prefix of the other (shore/shoreline, intercept/interception)."""
    if a == b:
        return True
    short, long_ = (a, b) if len(a) < len(b) else (b, a)
    return len(short) >= 4 and long_.startswith(short)


NUMBER = re.compile(r"\d[\d,.]*\d|\d")


def numbers(text: str) -> set[str]:
    return {n.replace(",", "") for n in NUMBER.findall(text)}


# A year (1000-2099) or a decade ("the 1970s", "1970's"), not part of a longer number ("2,019", "2019.5", "12019").
YEAR = re.compile(r"(?<![\d,.])(1\d\d\d|20\d\d)('?s)?(?!\d|[,.]\d)")


def years_stated(question: str, text: str) -> bool:
    """Every year the question names is in text, and every decade has a year of it there: an answer
    "in 2019" from a document that never mentions 2019 is an answer about some other year."""
    named = YEAR.findall(question)
    if not named:  # most questions: the document's text is not scanned
        return True
    found = {m.group(1) for m in YEAR.finditer(text)}
    return all(year in found or (decade and any(f[:3] == year[:3] for f in found)) for year, decade in named)


# Function words by language: the shipped encoder and readers are English models, so a question in another
# language cannot be read, and saying the documents do not answer it would be a claim nobody measured. By
# hand, not a language-identification library: a question is a dozen words, where those guess poorly, and
# function words decide it (a word two languages share counts for neither).
_FUNCTION_WORDS = {
    "English": "what when where which who whom whose why how is are was were did does do the of in on to and for "
    "with from by that this these those has have had will would can could should about many much it its they",
    "Spanish": "qué que cuál cuáles quién quiénes cuándo dónde por cómo cuánto cuánta cuántos cuántas el la los las del "
    "y en un una es son fue se su sus para con al pagó ha han",
    "French": "quel quelle quels quelles qui quand où pourquoi comment combien le la les du des et est sont été une "
    "dans pour avec au aux ce cette ont il elle",
    "German": "was wer wann wo warum wie welche welcher welches wieviel der die das den dem des und ist sind war hat "
    "haben ein eine einen mit von für auf nicht",
    "Italian": "che chi quando dove perché come quanto quanti quale il lo gli della delle dei è sono ha hanno per con una nel",
    "Portuguese": "que quem quando onde porque como quanto quantos qual o os as do da dos das e é são foi um uma em no "
    "na para com",
    "Dutch": "wat wie wanneer waar waarom hoe welke hoeveel de het een van en is zijn was heeft hebben met voor op",
}
_WORDS_BY_LANGUAGE = {language: set(words.split()) for language, words in _FUNCTION_WORDS.items()}
_ENGLISH = _WORDS_BY_LANGUAGE.pop("English")
for _words in _WORDS_BY_LANGUAGE.values():
    _words -= _ENGLISH  # "is", "in", "die": English counts them, the others do not
_LETTER = re.compile(r"[^\W\d_]", re.UNICODE)
_LATIN_LETTER = re.compile(r"[A-Za-zÀ-ɏ]")


def question_language(question: str) -> str | None:
    """The language of a question that is clearly not English ("Spanish", or "a non-Latin script"); None otherwise."""
    letters = _LETTER.findall(question)
    if len(letters) >= 4 and sum(1 for c in letters if not _LATIN_LETTER.match(c)) > len(letters) / 2:
        return "a non-Latin script"
    words = re.findall(r"[^\W\d_]+", question.lower())
    english = sum(w in _ENGLISH for w in words)
    counts = {language: sum(w in vocabulary for w in words) for language, vocabulary in _WORDS_BY_LANGUAGE.items()}
    language, most = max(counts.items(), key=lambda item: item[1])
    # Two of its words at least, more than English ones: a name ("Auf der Maur", "Copa del Rey") is one or two words.
    if most > english and (most >= 2 or "¿" in question or "¡" in question) and most >= english + 2 - (english == 0):
        return language
    return None
