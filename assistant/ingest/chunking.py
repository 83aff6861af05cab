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


INDEXED_TEXT = "title+chunk"  # recorded in the index: how chunk texts were turned into what is embedded


def indexed_text(title: str, chunk: str) -> str:
    """What is embedded and BM25-indexed for a chunk: its text, headed by the document's title when it lacks it.

    A passage deep in a document rarely names what the document is about; with the title it can
    be found by it (SciFact train nDCG@10, README). Citations still point at the chunk's own span.
    """
    return chunk if not title or chunk.startswith(title) else f"{title}\n{chunk}"


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


def chunk_text(text: str, model_path: Path, chunk_size: int, chunk_overlap: int) -> list[Chunk]:
    """Sentence-aware chunks; ``text[c.start:c.end] == c.text`` holds for every chunk."""
    pieces = _splitter(model_path, chunk_size, chunk_overlap).split_text(text)
    chunks: list[Chunk] = []
    cursor = 0
    for piece in pieces:
        start = text.find(piece, cursor)
        if start < 0:  # the splitter changed the text (it should not); never cite what is not there
            raise ValueError(f"chunk is not a substring of its document: {piece[:60]!r}")
        chunks.append(Chunk(n=len(chunks), start=start, end=start + len(piece), text=piece))
        cursor = start + 1  # chunks overlap, so the next one may begin before this one ends
    return chunks
