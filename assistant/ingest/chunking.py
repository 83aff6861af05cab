"""Chunk: split a document's text into passages with exact character spans."""

from __future__ import annotations

import bisect
import threading
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path


@dataclass(frozen=True)
class Chunk:
    n: int
    start: int
    end: int
    text: str


class PieceCounter:
    """Word pieces in a text, for the splitter, which asks for every candidate split of a block (thousands of
    times per document; tokenizing each was most of chunking's time). The block is tokenized once with offsets
    and a substring's count read from them. That equals tokenizing the substring alone when both its ends touch
    whitespace (the tokenizer never joins pieces across it); any other text is tokenized on its own."""

    def __init__(self, tokenizer) -> None:
        self._tokenizer = tokenizer
        self._block = threading.local()  # the server may chunk two uploads at once

    def use(self, block: str) -> None:
        offsets = self._tokenizer.encode(block, add_special_tokens=False).offsets
        self._block.text, self._block.starts = block, [start for start, _ in offsets]

    def count(self, text: str) -> int:
        block = getattr(self._block, "text", "")
        at = block.find(text) if text else -1
        end = at + len(text)
        if at < 0 or not (_touches_space(block, at) and _touches_space(block, end)):
            return len(self._tokenizer.encode(text, add_special_tokens=False))
        starts = self._block.starts
        return bisect.bisect_left(starts, end) - bisect.bisect_left(starts, at)

    def __call__(self, text: str) -> range:  # the splitter takes len() of what its tokenizer returns
        return range(self.count(text))


def _touches_space(text: str, at: int) -> bool:
    return at in (0, len(text)) or _bert_space(text[at - 1]) or _bert_space(text[at])


def _bert_space(char: str) -> bool:
    """Whitespace as the BERT tokenizer splits on it (Python's isspace also counts control characters it deletes)."""
    return char in " \t\n\r" or unicodedata.category(char) == "Zs"


@lru_cache(maxsize=4)
def _splitter(model_path: Path, chunk_size: int, chunk_overlap: int):
    from llama_index.core.node_parser import SentenceSplitter
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(model_path / "tokenizer.json"))
    tokenizer.no_truncation()
    tokenizer.no_padding()  # the bundled tokenizer.json pads every text to 128 pieces
    counter = PieceCounter(tokenizer)
    return SentenceSplitter(chunk_size=chunk_size, chunk_overlap=chunk_overlap, tokenizer=counter), counter


# The splitter hands a paragraph-less stretch of text to nltk's punkt whole, and punkt's regular
# expressions give up on a few MB (a 4.8 MB file timed out after 5 s): a long text is cut into blocks
# of at most this many characters first, at a blank line, else a line break, else a space. No chunk
# spans two blocks; a text shorter than this (the seed articles, SciFact abstracts) is chunked as before.
BLOCK_CHARS = 20_000


def blocks(text: str, limit: int = BLOCK_CHARS) -> list[tuple[int, int]]:
    """(start, end) spans that tile ``text``, each at most ``limit`` characters, cut where the text breaks."""
    spans, start = [], 0
    while len(text) - start > limit:
        end = start + limit
        for separator in ("\n\n", "\n", " "):
            cut = text.rfind(separator, start + limit // 2, end)
            if cut >= 0:
                end = cut + len(separator)
                break
        spans.append((start, end))
        start = end
    spans.append((start, len(text)))
    return spans


def chunk_text(text: str, model_path: Path, chunk_size: int, chunk_overlap: int) -> list[Chunk]:
    """Sentence-aware chunks; ``text[c.start:c.end] == c.text`` holds for every chunk."""
    splitter, counter = _splitter(model_path, chunk_size, chunk_overlap)
    chunks: list[Chunk] = []
    for block_start, block_end in blocks(text):
        block = text[block_start:block_end]
        counter.use(block)
        cursor = 0
        for piece in splitter.split_text(block):
            start = block.find(piece, cursor)
            if start < 0:  # the splitter changed the text (it should not); never cite what is not there
                raise ValueError(f"chunk is not a substring of its document: {piece[:60]!r}")
            chunks.append(Chunk(n=len(chunks), start=block_start + start, end=block_start + start + len(piece), text=piece))
            cursor = start + 1  # chunks overlap, so the next one may begin before this one ends
    return chunks
