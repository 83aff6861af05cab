from functools import lru_cache
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from assistant.ingest.chunking import PieceCounter, blocks, chunk_text
from assistant.settings import bundled_model_path
from assistant.text_analysis import match_terms, sentence_spans, terms, years_stated

MODEL = bundled_model_path()
# Words that stress the splitter: abbreviations, quotes, dashes, non-ASCII, repeated lines, odd spacing.
WORDS = st.sampled_from(
    [
        "the",
        "police",
        "boat",
        "Calais",
        "300",
        "metres.",
        "Mr.",
        "said:",
        "“quoted”",
        "—",
        "\n",
        "\n\n",
        "  ",
        "\t",
        "shore.",
        "Sea!",
        "why?",
        "e.g.",
        "£500",
        "naïve",
        "日本語",
        "Unions representing the officers have blocked plans.",
        "25°C",
        "\u00a0",  # a no-break space: whitespace to the tokenizer
        "x\x1cy",  # a control character Python calls a space and the tokenizer deletes
        "co-operate,",
    ]
)
DOCUMENTS = st.lists(WORDS, min_size=1, max_size=300).map(" ".join)


@settings(max_examples=150, deadline=None)
@given(DOCUMENTS, st.sampled_from([(32, 4), (64, 8), (128, 16)]))
def test_every_chunk_is_the_exact_span_it_claims(text, sizes):
    chunks = chunk_text(text, MODEL, *sizes)
    assert chunks or not text.strip()
    for n, chunk in enumerate(chunks):
        assert chunk.n == n
        assert text[chunk.start : chunk.end] == chunk.text
    assert [c.start for c in chunks] == sorted(c.start for c in chunks)


@settings(max_examples=150, deadline=None)
@given(DOCUMENTS)
def test_sentence_spans_are_trimmed_ordered_and_inside_the_text(text):
    spans = sentence_spans(text)
    previous_end = 0
    for start, end in spans:
        assert previous_end <= start < end <= len(text)
        assert text[start:end] == text[start:end].strip()
        previous_end = end


def test_sentences_of_the_article_keep_titles_and_abbreviations():
    text = "A headline without a stop\nIn a letter to Mr. Macron last month, he wrote. Then it ended!"
    assert [text[a:b] for a, b in sentence_spans(text)] == [
        "A headline without a stop",
        "In a letter to Mr. Macron last month, he wrote.",
        "Then it ended!",
    ]


def test_match_terms_puts_irregular_verb_forms_back_to_their_base():
    # The stemmer leaves written/write and paid/pay apart; the answerer compares them as one.
    assert match_terms("Sir Keir wrote and has written; they ran, paid and won") == match_terms(
        "Sir Keir write and has write; they run, pay and win"
    )
    # Only irregular verb forms change: not nouns that look like them, not regular forms, not names.
    for text in ["the news", "migrants crossed", "Left Bank", "officers leaving"]:
        assert match_terms(text) == terms(text)


def test_years_stated_finds_each_year_and_decade_the_question_names():
    text = "In 2018 some 5,000 people crossed; the 1973 oil embargo followed. 2,019 boats, 2019.5 knots."
    assert years_stated("How many crossed in 2018?", text)
    assert years_stated("What happened in the 1970s?", text) and years_stated("What happened in the 1970's?", text)
    assert years_stated("How many people crossed?", text)  # no year named: nothing to check
    assert not years_stated("How many crossed in 2019?", text)  # "2,019" and "2019.5" are not the year 2019
    assert not years_stated("How many crossed in 2018 and 2020?", text)
    assert not years_stated("What happened in the 1980s?", text)


def test_a_long_document_is_chunked_in_blocks_punkt_can_read(monkeypatch):
    """A 2 MB text with no paragraph break: punkt, given it whole, gives up at nltk's wall-clock regex limit
    (5 s; a 4.8 MB file failed on a slower CPU). Here the limit is 0.5 s, as a slower machine would meet it."""
    import nltk.redos

    monkeypatch.setattr(nltk.redos, "DEFAULT_TIMEOUT", 0.5)
    sentence = "The officers watched the boat leave the beach at Gravelines while a helicopter circled. "
    text = sentence * (2_000_000 // len(sentence))
    chunks = chunk_text(text, MODEL, 128, 16)
    assert all(text[c.start : c.end] == c.text for c in chunks)
    assert chunks[0].start == 0 and chunks[-1].end == len(text.rstrip())
    covered = max(c.end for c in chunks)
    assert covered >= len(text.rstrip())


@given(st.text(alphabet="ab \n", max_size=400), st.integers(min_value=8, max_value=60))
def test_blocks_tile_the_text_without_gaps_or_overlaps(text, limit):
    spans = blocks(text, limit)
    assert spans[0][0] == 0 and spans[-1][1] == len(text)
    assert all(end == start for (_, end), (start, _) in zip(spans, spans[1:]))
    assert all(0 < end - start <= limit for start, end in spans) or text == ""


@lru_cache(maxsize=2)
def plain_splitter(sizes: tuple[int, int]):
    """llama-index's SentenceSplitter tokenizing every split it weighs, as chunking did before PieceCounter."""
    from llama_index.core.node_parser import SentenceSplitter
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(MODEL / "tokenizer.json"))
    tokenizer.no_truncation()
    tokenizer.no_padding()
    pieces = lambda text: tokenizer.encode(text, add_special_tokens=False).ids  # noqa: E731
    return SentenceSplitter(chunk_size=sizes[0], chunk_overlap=sizes[1], tokenizer=pieces), tokenizer


@settings(max_examples=150, deadline=None)
@given(DOCUMENTS, st.sampled_from([(32, 4), (128, 16)]), st.data())
def test_counting_pieces_from_the_block_gives_the_same_counts_and_chunks_as_tokenizing_each_split(text, sizes, data):
    splitter, tokenizer = plain_splitter(sizes)
    assert [c.text for c in chunk_text(text, MODEL, *sizes)] == splitter.split_text(text)
    counter = PieceCounter(tokenizer)
    counter.use(text)
    start = data.draw(st.integers(0, len(text)))
    piece = text[start : data.draw(st.integers(start, len(text)))]
    assert counter.count(piece) == len(tokenizer.encode(piece, add_special_tokens=False).ids)


def test_the_seed_articles_chunk_as_they_did_when_every_split_was_tokenized():
    articles = sorted((Path(__file__).parent.parent / "corpus").glob("*.txt"))
    assert len(articles) == 2
    for article in articles:
        text = article.read_text(encoding="utf-8")
        assert [c.text for c in chunk_text(text, MODEL, 128, 16)] == plain_splitter((128, 16))[0].split_text(text)
