"""Uploads are checked on name, size and content before anything is written."""

import pytest

from assistant.ingest.uploads import UploadError, check_upload, safe_name


def test_names_lose_folders_and_odd_characters():
    assert safe_name("../../etc/passwd.txt") == "passwd.txt"
    assert safe_name("..\\..\\windows\\evil.MD") == "evil.md"
    assert safe_name("my report (final).pdf") == "my-report-final.pdf"
    with pytest.raises(UploadError):
        safe_name("../???.txt")


@pytest.mark.parametrize(
    "name, data, reason",
    [
        ("a.exe", b"MZ...", "is not accepted"),
        ("a.txt", b"x" * 2_000, "over the"),
        ("a.txt", b"   \n", "empty"),
        ("a.txt", bytes(range(128, 256)) * 3, "not text in any encoding"),
        ("a.txt", b"PK\x03\x04\x00\x00binary", "binary content"),
        ("a.pdf", b"hello", "not a PDF"),
        ("a.docx", b"PK not really", "not a Word document"),
        ("a.html", b"just words", "no HTML markup"),
    ],
)
def test_unacceptable_uploads_are_refused_with_the_reason(name, data, reason):
    with pytest.raises(UploadError, match=reason):
        check_upload(name, data, max_bytes=1_000)


def test_an_upload_never_replaces_a_document_silently_nor_writes_when_refused(writable_assistant):
    corpus = writable_assistant.settings.corpus_dir
    existing = "french-police-fail-to-stop-migrant-boat.txt"
    original = (corpus / existing).read_bytes()
    with pytest.raises(UploadError, match="already in the corpus"):
        writable_assistant.upload(existing, b"Replacement text.")
    assert (corpus / existing).read_bytes() == original
    with pytest.raises(UploadError, match="binary"):
        writable_assistant.upload("../outside.txt", b"\x00\x01")
    assert not (corpus.parent / "outside.txt").exists() and not (corpus / "outside.txt").exists()
    report = writable_assistant.upload("../outside.txt", b"The harbour master is Ruth Penhale.")
    assert report.added == [(corpus / "outside.txt").resolve().as_posix()]
    assert not (corpus.parent / "outside.txt").exists()
