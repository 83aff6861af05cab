"""Chunk: split a document's text into passages with exact character spans."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path


@dataclass(frozen=True)
class Chunk:
    n: int
    start: int
    end: int
    text: str


@lru_cache(maxsize=4)
def _splitter(model_path: Path, chunk_size: int, chunk_overlap: int):
    from llama_index.core.node_parser import SentenceSplitter
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(model_path / "tokenizer.json"))
    tokenizer.no_truncation()
    tokenizer.no_padding()  # the bundled tokenizer.json pads every text to 128 pieces

    def count_pieces(text: str) -> list[int]:
        return tokenizer.encode(text, add_special_tokens=False).ids

    return SentenceSplitter(chunk_size=chunk_size, chunk_overlap=chunk_overlap, tokenizer=count_pieces)


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
    splitter = _splitter(model_path, chunk_size, chunk_overlap)
    chunks: list[Chunk] = []
    for block_start, block_end in blocks(text):
        block = text[block_start:block_end]
        cursor = 0
        for piece in splitter.split_text(block):
            start = block.find(piece, cursor)
            if start < 0:  # the splitter changed the text (it should not); never cite what is not there
                raise ValueError(f"chunk is not a substring of its document: {piece[:60]!r}")
            chunks.append(Chunk(n=len(chunks), start=block_start + start, end=block_start + start + len(piece), text=piece))
            cursor = start + 1  # chunks overlap, so the next one may begin before this one ends
    return chunks
