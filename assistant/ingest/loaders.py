"""Loaders: turn a file into the plain text that chunks and citations point into, as its author laid it out.

A Markdown paragraph is one block (its soft line breaks joined); list items and table rows are units of their own
that keep their labels ("Cardamom bun: £2.80"; a row's cells after their column headers); the title comes from
the HTML <title>, the document's properties (DOCX, PDF) or its first heading. The work is bounded, not only the
bytes (``Limits``): a small compressed file may hold gigabytes of XML or one stream shared by many pages.
"""

from __future__ import annotations

import re
import zipfile
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


@dataclass(frozen=True)
class Limits:
    """How much work one file may make (Settings: max_document_chars, max_docx_unzipped_mb)."""

    max_chars: int = 5_000_000
    max_docx_unzipped_bytes: int = 100_000_000


def load_document(path: Path, limits: Limits = Limits()) -> LoadedDocument:  # noqa: B008 -- frozen, shared safely
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise LoadError(f"unsupported file type {suffix or '(none)'}; supported: {', '.join(SUPPORTED_SUFFIXES)}")
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise LoadError(f"cannot read: {exc.strerror or exc}") from exc
    if not raw.strip():
        raise LoadError("empty file")

    encoding, title = "", ""
    if suffix in (".txt", ".md"):
        text, encoding = decode_plain_text(raw)
        if suffix == ".md":
            text = unwrap_markdown(text)
    elif suffix == ".pdf":
        text, title = _load_pdf(path, limits)
    elif suffix == ".docx":
        text, title = _load_docx(path, limits)
    else:
        text, title = _load_html(raw)

    if len(text) > limits.max_chars:
        raise LoadError(too_much(len(text), limits))
    if not text.strip():
        raise LoadError("no text found in the file")
    if "\x00" in text:
        raise LoadError("binary content (NUL bytes) in extracted text")
    return LoadedDocument(text=text, title=(title.strip()[:200] or _title(text, path)), encoding=encoding)


def too_much(chars: int, limits: Limits) -> str:
    return f"yields over {limits.max_chars:,} characters of text ({chars:,} so far); the limit is ASSISTANT_MAX_DOCUMENT_CHARS"


_BLOCK_START = re.compile(r"\s*([-*+]\s|\d+[.)]\s|#|>|\||```|~~~)")


def unwrap_markdown(text: str) -> str:
    """A paragraph's soft line breaks joined into spaces (Markdown renders them so); list items, headings, quotes,
    table rows and code blocks keep their lines. The length stays the same (a newline becomes a space)."""
    lines = text.split("\n")
    fenced = False
    for i, line in enumerate(lines[:-1]):
        if line.lstrip().startswith(("```", "~~~")):
            fenced = not fenced
        following = lines[i + 1]
        if fenced or not line.strip() or not following.strip() or _BLOCK_START.match(following):
            continue
        if _BLOCK_START.match(line) and not re.match(r"\s*([-*+]\s|\d+[.)]\s)", line):
            continue  # a heading, table row or quote ends at its line; a list item may wrap
        lines[i] = line + "\r"  # marked, joined below (a newline becomes a space: offsets are kept)
    return "\n".join(lines).replace("\r\n", " ")


def _load_pdf(path: Path, limits: Limits) -> tuple[str, str]:
    """Page by page with pypdf (as llama-index's PDFReader does), stopping once the text passes the limit: pages
    may share one huge content stream (13 KB of PDF made 10 M characters)."""
    from pypdf import PdfReader

    try:
        reader = PdfReader(path)
        pages: list[str] = []
        total = 0
        for page in reader.pages:
            pages.append(page.extract_text() or "")
            total += len(pages[-1])
            if total > limits.max_chars:
                raise LoadError(too_much(total, limits))
        title = str((reader.metadata or {}).get("/Title") or "")
    except LoadError:
        raise
    except Exception as exc:  # pypdf raises whatever its parser meets in a corrupt file
        raise LoadError(f"corrupt or unreadable PDF: {type(exc).__name__}: {exc}") from exc
    return "\n\n".join(pages), title


_W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"


def _load_docx(path: Path, limits: Limits) -> tuple[str, str]:
    """The body's paragraphs and tables in order, each table row as its cells after their column's header
    ("Quarter: Q3 | Region: North | Sales: 23"). By hand over the XML (ElementTree), after checking the parts'
    unpacked sizes: docx2txt, llama-index's reader, drops tables' structure and unpacks whatever it is given."""
    import xml.etree.ElementTree as ElementTree

    try:
        with zipfile.ZipFile(path) as archive:
            unpacked = sum(info.file_size for info in archive.infolist())
            if unpacked > limits.max_docx_unzipped_bytes:
                raise LoadError(
                    f"unpacks to {unpacked / 1e6:,.0f} MB of XML, over the {limits.max_docx_unzipped_bytes / 1e6:,.0f} MB "
                    "limit (ASSISTANT_MAX_DOCX_UNZIPPED_MB)"
                )
            body = ElementTree.fromstring(archive.read("word/document.xml")).find(f"{_W}body")
            title = ""
            if "docProps/core.xml" in archive.namelist():
                core = ElementTree.fromstring(archive.read("docProps/core.xml"))
                title = next((e.text or "" for e in core.iter() if e.tag.endswith("}title")), "")
    except LoadError:
        raise
    except (zipfile.BadZipFile, KeyError, ElementTree.ParseError) as exc:
        raise LoadError(f"corrupt or unreadable DOCX: {type(exc).__name__}: {exc}") from exc
    blocks: list[str] = []
    for element in body if body is not None else []:
        if element.tag == f"{_W}p":
            blocks.append(_docx_text(element))
        elif element.tag == f"{_W}tbl":
            rows = [[_docx_text(cell) for cell in row.iter(f"{_W}tc")] for row in element.iter(f"{_W}tr")]
            blocks += labelled_rows(rows)
    return "\n\n".join(block for block in blocks if block.strip()), title


def _docx_text(element) -> str:
    return "".join(node.text or "" if node.tag == f"{_W}t" else "\t" if node.tag == f"{_W}tab" else "" for node in element.iter())


def labelled_rows(rows: list[list[str]]) -> list[str]:
    """A table as lines: its header row, then each row with every cell after its column's header."""
    rows = [[" ".join(cell.split()) for cell in row] for row in rows if any(cell.strip() for cell in row)]
    if len(rows) < 2:
        return [" | ".join(row) for row in rows]
    header = rows[0]
    lines = [" | ".join(header)]
    for row in rows[1:]:
        cells = [f"{label}: {cell}" if label and cell else cell for label, cell in zip(header + [""] * len(row), row)]
        lines.append(" | ".join(cell for cell in cells if cell))
    return lines


_BLOCKS = ("p", "li", "dt", "dd", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "pre", "div", "section", "article",
           "header", "footer", "figcaption", "caption", "address")  # fmt: skip


def _load_html(raw: bytes) -> tuple[str, str]:
    """The body's text with every block element (paragraph, list item, heading) on lines of its own and each table
    row labelled by its header; scripts, styles and navigation left out; the title from <title>."""
    from bs4 import BeautifulSoup

    text, _ = decode_plain_text(raw)
    soup = BeautifulSoup(text, "html.parser")
    title = soup.title.get_text(" ", strip=True) if soup.title else ""
    root = soup.body or soup
    for tag in root.find_all(["script", "style", "noscript", "template", "nav"]):
        tag.decompose()
    for table in root.find_all("table"):
        rows = [[cell.get_text(" ", strip=True) for cell in row.find_all(["th", "td"])] for row in table.find_all("tr")]
        table.replace_with(soup.new_string("\n\n" + "\n\n".join(labelled_rows(rows)) + "\n\n"))
    for tag in root.find_all(_BLOCKS):
        tag.insert_before("\n\n")
        tag.insert_after("\n\n")
    for br in root.find_all("br"):
        br.replace_with("\n")
    lines = [" ".join(line.split()) for line in root.get_text().split("\n")]
    text = re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()
    return text, title


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


def _title(text: str, path: Path) -> str:
    for line in text.splitlines():
        line = line.strip().lstrip("#").strip()
        if line:
            return line[:200]
    return path.stem
