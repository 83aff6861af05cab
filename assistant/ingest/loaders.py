"""Loaders: turn a file into the plain text that chunks and citations point into (llama-index readers for PDF, DOCX, HTML)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from assistant.settings import SUPPORTED_SUFFIXES


class LoadError(Exception):
    """A file that cannot be indexed; the message says why."""


@dataclass(frozen=True)
class LoadedDocument:
    text: str
    title: str


def load_document(path: Path) -> LoadedDocument:
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise LoadError(f"unsupported file type {suffix or '(none)'}; supported: {', '.join(SUPPORTED_SUFFIXES)}")
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise LoadError(f"cannot read: {exc.strerror or exc}") from exc
    if not raw.strip():
        raise LoadError("empty file")

    text = _decode_plain_text(raw) if suffix in (".txt", ".md") else _load_with_llama_index(path, suffix)

    if not text.strip():
        raise LoadError("no text found in the file")
    if "\x00" in text:
        raise LoadError("binary content (NUL bytes) in extracted text")
    return LoadedDocument(text=text, title=_title(text, path))


def _decode_plain_text(raw: bytes) -> str:
    # By hand: llama-index's flat-file reader silently drops undecodable bytes, and we must report them.
    if b"\x00" in raw[:8192]:
        raise LoadError("binary content (NUL bytes), not text")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise LoadError(f"not valid UTF-8 (byte 0x{raw[exc.start]:02x} at offset {exc.start})") from exc


def _load_with_llama_index(path: Path, suffix: str) -> str:
    from llama_index.readers.file import DocxReader, HTMLTagReader, PDFReader

    readers = {
        ".pdf": lambda: PDFReader(return_full_document=True),
        ".docx": DocxReader,
        ".html": lambda: HTMLTagReader(tag="body"),
        ".htm": lambda: HTMLTagReader(tag="body"),
    }
    try:
        documents = readers[suffix]().load_data(path)
    except UnicodeDecodeError as exc:
        raise LoadError(f"not valid UTF-8 (offset {exc.start})") from exc
    except Exception as exc:  # the readers raise whatever their parser raises on a corrupt file
        raise LoadError(f"corrupt or unreadable {suffix[1:].upper()}: {type(exc).__name__}: {exc}") from exc
    return "\n\n".join(doc.text for doc in documents)


def _title(text: str, path: Path) -> str:
    for line in text.splitlines():
        line = line.strip().lstrip("#").strip()
        if line:
            return line[:200]
    return path.stem
