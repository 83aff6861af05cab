"""Uploads: check a file a user hands us before it reaches the corpus.

A rejected upload raises ``UploadError`` with a message for the user and writes nothing.
"""

from __future__ import annotations

import re
import unicodedata
import zipfile
from io import BytesIO
from pathlib import Path

from assistant.errors import AssistantError
from assistant.ingest.loaders import LoadError, decode_plain_text
from assistant.settings import SUPPORTED_SUFFIXES


class UploadError(AssistantError):
    """An upload we refuse; the message says why."""

    exit_code, http_status, kind, code = 2, 400, "invalid_request_error", "upload_refused"


class UploadConflictError(UploadError):
    """The name is taken: by a document in the corpus, or by another upload of the same name at the same moment."""

    http_status, code = 409, "upload_conflict"


def safe_name(name: str) -> str:
    """A plain file name: no folders, no leading dots, only letters, digits, dot, dash and underscore."""
    base = unicodedata.normalize("NFKC", Path(name.replace("\\", "/")).name)
    stem, suffix = Path(base).stem, Path(base).suffix.lower()
    stem = re.sub(r"[^\w.-]+", "-", stem, flags=re.ASCII).strip(".-_")[:100]
    if not stem:
        raise UploadError(f"{name!r} is not a usable file name")
    return stem + suffix


def check_upload(name: str, data: bytes, max_bytes: int) -> str:
    """The safe file name for an acceptable upload; raises UploadError otherwise."""
    clean = safe_name(name)
    suffix = Path(clean).suffix
    if suffix not in SUPPORTED_SUFFIXES:
        raise UploadError(f"{name}: file type {suffix or '(none)'} is not accepted; accepted: {', '.join(SUPPORTED_SUFFIXES)}")
    if len(data) > max_bytes:
        raise UploadError(f"{name}: {len(data) / 1e6:.1f} MB is over the {max_bytes / 1e6:.0f} MB upload limit")
    if not data.strip():
        raise UploadError(f"{name}: the file is empty")
    problem = _content_problem(suffix, data)
    if problem:
        raise UploadError(f"{name}: {problem}")
    return clean


def _content_problem(suffix: str, data: bytes) -> str | None:
    """The type is checked on the bytes, not on the name alone."""
    if suffix == ".pdf":
        return None if data.lstrip()[:5] == b"%PDF-" else "not a PDF file (no %PDF- header)"
    if suffix == ".docx":
        try:
            with zipfile.ZipFile(BytesIO(data)) as archive:
                return None if "word/document.xml" in archive.namelist() else "not a Word document (no word/document.xml)"
        except zipfile.BadZipFile:
            return "not a Word document (not a zip archive)"
    try:
        text, _ = decode_plain_text(data)  # as ingest reads it: UTF-8, else the detected encoding
    except LoadError as exc:
        return str(exc)
    if suffix == ".html" and not re.search(r"<\s*(html|body|p|div|h[1-6]|!doctype)\b", text[:5000], re.I):
        return "no HTML markup found"
    return None
