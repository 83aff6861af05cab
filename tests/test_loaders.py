"""Loaders read each format as its author meant it (issue #39) and bound the work a file can make (issue #42).
Real files: python-docx and reportlab write them; the answers come from the real reader over a real index."""

from __future__ import annotations

import io
import zipfile

import pytest

from assistant.ingest.loaders import Limits, LoadError, load_document, unwrap_markdown

PRICE_LIST = """<html><head><title>Harbour Bakery prices</title></head><body>
<nav>Home | Menu | Contact</nav>
<h1>Our bakery</h1>
<ul><li>Sourdough loaf: £4.20</li><li>Cardamom bun: £2.80</li><li>Rye crispbread: £3.10</li></ul>
<table><tr><th>Quarter</th><th>Region</th><th>Sales</th></tr>
<tr><td>Q3</td><td>North</td><td>23</td></tr><tr><td>Q3</td><td>South</td><td>7</td></tr></table>
</body></html>"""


def test_html_title_list_items_and_table_rows_keep_their_labels(tmp_path):
    page = tmp_path / "prices.html"
    page.write_text(PRICE_LIST)
    document = load_document(page)
    assert document.title == "Harbour Bakery prices"
    lines = document.text.split("\n")
    assert "Cardamom bun: £2.80" in lines and "Sourdough loaf: £4.20" in lines
    assert "Quarter: Q3 | Region: North | Sales: 23" in lines
    assert "Home | Menu | Contact" not in document.text


def test_docx_table_rows_keep_their_header_and_the_title_comes_from_its_properties(tmp_path):
    docx = pytest.importorskip("docx")
    document = docx.Document()
    document.core_properties.title = "Quarterly sales"
    document.add_paragraph("Sales by region.")
    table = document.add_table(rows=3, cols=3)
    for r, row in enumerate([["Quarter", "Region", "Sales"], ["Q3", "North", "23"], ["Q3", "South", "7"]]):
        for c, value in enumerate(row):
            table.cell(r, c).text = value
    path = tmp_path / "sales.docx"
    document.save(path)
    loaded = load_document(path)
    assert loaded.title == "Quarterly sales"
    assert loaded.text.split("\n\n") == [
        "Sales by region.",
        "Quarter | Region | Sales",
        "Quarter: Q3 | Region: North | Sales: 23",
        "Quarter: Q3 | Region: South | Sales: 7",
    ]


def test_a_markdown_paragraph_is_one_block_and_lists_keep_their_lines():
    text = "# Tours\n\nA volunteer group of\n14 people runs guided tours.\n\n- first item\n- second item\n"
    unwrapped = unwrap_markdown(text)
    assert len(unwrapped) == len(text)
    assert "A volunteer group of 14 people runs guided tours." in unwrapped
    assert "- first item\n- second item" in unwrapped and unwrapped.startswith("# Tours\n\n")


@pytest.fixture
def structured(tmp_path, make_assistant):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "prices.html").write_text(PRICE_LIST)
    (corpus / "lighthouse.md").write_text(
        "# The lighthouse\n\nThe Harbour Lighthouse Trust restored the lamp in 2019.\n\n"
        "A volunteer group of\n14 people runs guided tours every Saturday in summer.\n"
    )
    assistant = make_assistant(corpus)
    assistant.ingest()
    return assistant


@pytest.mark.xfail(
    strict=True,
    reason="each item is its own sentence now, but the span reader scores the first price "
    "higher (12.1 against 9.9); the verifier of issue #41 reads the one item with the question",
)
def test_a_price_list_item_is_answered_with_its_own_price(structured):
    bun = structured.ask("How much does a cardamom bun cost?")
    assert bun.outcome in ("answered", "uncertain") and bun.answer_span is not None
    assert bun.answer_span.text == "£2.80"


def test_a_soft_line_break_does_not_split_the_answer(structured):
    assistant = structured
    group = assistant.ask("How many people are in the volunteer group?")
    assert group.answer_span is not None and group.answer_span.text == "14"
    assert "A volunteer group of 14 people runs guided tours" in group.answer


def _docx_bomb(megabytes: int) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        body = "<w:p/>" * (megabytes * 1_000_000 // 6)
        archive.writestr(
            "word/document.xml",
            f'<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body>{body}</w:body></w:document>',
        )
    return buffer.getvalue()


def test_a_docx_bomb_is_refused_by_its_unpacked_size_before_it_is_parsed(tmp_path):
    path = tmp_path / "bomb.docx"
    path.write_bytes(_docx_bomb(60))
    assert path.stat().st_size < 1_000_000
    with pytest.raises(LoadError, match="ASSISTANT_MAX_DOCX_UNZIPPED_MB"):
        load_document(path, Limits(max_docx_unzipped_bytes=50_000_000))


def test_a_pdf_yielding_more_text_than_the_limit_is_refused(tmp_path):
    canvas = pytest.importorskip("reportlab.pdfgen.canvas")
    path = tmp_path / "long.pdf"
    pdf = canvas.Canvas(str(path))
    for _ in range(3):
        for line in range(60):
            pdf.drawString(40, 800 - line * 12, "The harbour ledger repeats this line to fill the page. " * 2)
        pdf.showPage()
    pdf.save()
    assert len(load_document(path).text) > 10_000
    with pytest.raises(LoadError, match="ASSISTANT_MAX_DOCUMENT_CHARS"):
        load_document(path, Limits(max_chars=10_000))


def test_ingest_reports_a_file_over_the_chunk_limit_and_indexes_the_rest(tmp_path, make_assistant):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "small.txt").write_text("The lighthouse keeper of Port Ellery is Agnes Trevelyan.\n")
    (corpus / "long.txt").write_text("The harbour ledger records one more crate of apples today.\n\n" * 400)
    assistant = make_assistant(corpus, max_chunks_per_document=20)
    report = assistant.ingest()
    assert [path.endswith("small.txt") for path in report.added] == [True]
    (failed_path, reason), *_ = report.failed
    assert failed_path.endswith("long.txt") and "ASSISTANT_MAX_CHUNKS_PER_DOCUMENT" in reason
