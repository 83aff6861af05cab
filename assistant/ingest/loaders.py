"""Loaders: turn a file into the plain text that chunks and citations point into (llama-index readers for PDF, DOCX, HTML)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from assistant.errors import AssistantError
from assistant.settings import SUPPORTED_SUFFIXES

# How much more "mess" (charset-normalizer's measure) a Windows-1252 reading may show than the detected one and
# still be chosen: 0.056 for curly quotes and a euro sign; 1.2 for Russian Windows-1251 read as 1252.
WESTERN_SLACK = 0.1


class LoadError(AssistantError):
    """A file that cannot be indexed; the message says why."""

    exit_code, http_status, kind, code = 2, 400, "invalid_request_error", "unreadable_file"


@dataclass(frozen=True)
class LoadedDocument:
    text: str
    title: str
    encoding: str = ""  # a plain-text file's encoding; '' where a library read the file


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

    encoding = ""
    if suffix in (".txt", ".md"):
        text, encoding = decode_plain_text(raw)
    else:
        text = _load_with_llama_index(path, suffix)

    if not text.strip():
        raise LoadError("no text found in the file")
    if "\x00" in text:
        raise LoadError("binary content (NUL bytes) in extracted text")
    return LoadedDocument(text=text, title=_title(text, path), encoding=encoding)


def decode_plain_text(raw: bytes) -> tuple[str, str]:
    """The text and the encoding it was decoded with: UTF-8 when it is valid UTF-8, else what charset-normalizer
    detects (Latin-1, Windows-1252, UTF-16 with its BOM, ...). Not llama-index's flat-file reader: it drops
    undecodable bytes silently."""
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return raw.decode("utf-16"), "utf-16"
        except UnicodeDecodeError as exc:
            raise LoadError(f"starts as UTF-16 but is not valid UTF-16 (offset {exc.start})") from exc
    if b"\x00" in raw[:8192]:
        raise LoadError("binary content (NUL bytes), not text")
    try:
        return raw.decode("utf-8-sig"), "utf-8"
    except UnicodeDecodeError as exc:
        offset = exc.start
    from charset_normalizer import from_bytes
    from charset_normalizer.md import mess_ratio

    best = from_bytes(raw).best()
    if best is None:
        raise LoadError(f"not text in any encoding recognised (not UTF-8: byte 0x{raw[offset]:02x} at offset {offset})")
    # On a short Western text charset-normalizer cannot tell Windows-1252 from its single-byte cousins ("Café"
    # came back as cp1006, Urdu); Windows-1252, the commonest of them, wins unless it reads clearly worse.
    try:
        western = raw.decode("cp1252")
    except UnicodeDecodeError:
        western = None
    if western is not None and best.encoding != "cp1252" and mess_ratio(western, 1.0) <= best.chaos + WESTERN_SLACK:
        return western, "cp1252"
    return str(best), best.encoding


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
        cause = _retried_cause(exc)
        raise LoadError(f"corrupt or unreadable {suffix[1:].upper()}: {type(cause).__name__}: {cause}") from exc
    return "\n\n".join(doc.text for doc in documents)


def _retried_cause(exc: Exception) -> BaseException:
    """The error inside tenacity's RetryError (llama-index's PDF reader retries), which names only a Future."""
    attempt = getattr(exc, "last_attempt", None)
    inner = attempt.exception() if attempt is not None else None
    return inner if inner is not None else exc


def _title(text: str, path: Path) -> str:
    for line in text.splitlines():
        line = line.strip().lstrip("#").strip()
        if line:
            return line[:200]
    return path.stem
