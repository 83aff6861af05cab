"""The catalog on both databases: the same rows, generation and schema version from SQLite and PostgreSQL."""

from __future__ import annotations

import sqlite3

import pytest

from assistant.index.catalog import Catalog, DocumentRecord
from assistant.index.database import SCHEMA_VERSION, PostgresDatabase, SqliteDatabase, redacted

TEXT = "The lighthouse keeper is Agnes. She has kept the light since 1998."


@pytest.fixture(params=["sqlite", "postgresql"])
def catalog(request, tmp_path) -> Catalog:
    if request.param == "sqlite":
        return Catalog(SqliteDatabase(tmp_path / "catalog.sqlite"))
    url = request.getfixturevalue("new_server_index")()["database_url"]
    return Catalog(PostgresDatabase(url))


def test_documents_chunks_and_generation(catalog):
    assert catalog.generation == 0 and catalog.get_meta("schema_version") == str(SCHEMA_VERSION)
    record = DocumentRecord("d1", "/corpus/a.txt", "A", "sha-a", 2, 1796000000.123456)
    catalog.put_document(record, TEXT, [(0, 30), (31, len(TEXT))])
    assert catalog.generation == 1
    assert catalog.documents() == [record]  # the float survives exactly (DOUBLE PRECISION, not REAL)
    assert catalog.document_text("d1") == TEXT and catalog.count_chunks() == 2
    chunks = catalog.chunks(["d1-00001", "d1-00000", "missing"])
    assert set(chunks) == {"d1-00000", "d1-00001"} and chunks["d1-00001"].text == TEXT[31:]
    assert list(catalog.iter_chunk_texts()) == [("d1-00000", TEXT[:30]), ("d1-00001", TEXT[31:])]
    catalog.put_document(record, TEXT, [(0, len(TEXT))])  # replaced whole: one chunk now
    assert catalog.chunk_ids("d1") == ["d1-00000"] and catalog.generation == 2
    catalog.remove_document("d1")
    assert catalog.documents() == [] and catalog.count_chunks() == 0 and catalog.generation == 3
    catalog.set_meta(model_name="m", dirty=1)
    catalog.set_meta(dirty=0)
    assert catalog.get_meta("dirty") == "0" and catalog.get_meta("model_name") == "m"


def test_copy_from_and_clear(catalog, tmp_path):
    source = Catalog(SqliteDatabase(tmp_path / "source.sqlite"))
    for n in range(3):
        source.put_document(DocumentRecord(f"d{n}", f"/c/{n}.txt", f"T{n}", f"s{n}", 1, 1.5), f"text {n}", [(0, 6)])
    source.set_meta(model_name="m")
    catalog.copy_from(source)
    assert catalog.documents() == source.documents() and catalog.chunk_shas() == source.chunk_shas()
    assert catalog.generation == source.generation == 3 and catalog.get_meta("model_name") == "m"
    catalog.clear()
    assert catalog.documents() == [] and catalog.generation == 0
    assert catalog.get_meta("schema_version") == str(SCHEMA_VERSION)


def test_a_catalog_from_before_schema_versions_is_migrated_in_place(tmp_path):
    path = tmp_path / "catalog.sqlite"
    old = sqlite3.connect(path)  # the version-1 schema as the assistant wrote it before versions were recorded
    old.executescript(
        "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
        "CREATE TABLE documents (doc_id TEXT PRIMARY KEY, path TEXT UNIQUE NOT NULL, title TEXT NOT NULL,"
        " sha256 TEXT NOT NULL, text TEXT NOT NULL, n_chunks INTEGER NOT NULL, indexed_at REAL NOT NULL);"
        "CREATE TABLE chunks (chunk_id TEXT PRIMARY KEY, doc_id TEXT NOT NULL REFERENCES documents(doc_id) ON DELETE CASCADE,"
        ' n INTEGER NOT NULL, start INTEGER NOT NULL, "end" INTEGER NOT NULL);'
        "INSERT INTO meta VALUES ('generation', '7');"
        "INSERT INTO documents VALUES ('d1', '/c/a.txt', 'A', 'sha', 'some text', 1, 1.0);"
        "INSERT INTO chunks VALUES ('d1-00000', 'd1', 0, 0, 9);"
    )
    old.commit()
    old.close()
    catalog = Catalog(SqliteDatabase(path))
    assert catalog.get_meta("schema_version") == str(SCHEMA_VERSION) and catalog.generation == 7
    assert catalog.document_text("d1") == "some text" and catalog.count_chunks() == 1
    with catalog.database.read() as db:
        assert db.execute("SELECT COUNT(*) FROM bm25").fetchone()[0] == 0  # the version-2 table is there


def test_urls_in_messages_hide_the_password():
    assert redacted("postgresql://app:s3cret@db:5432/idx") == "postgresql://app:***@db:5432/idx"
    assert redacted("postgresql://app@db/idx") == "postgresql://app@db/idx"


def test_more_vectors_than_one_chroma_batch_are_written_in_batches(tmp_path):
    """A document of 9,363 chunks was refused whole ('Batch size of 9363 is greater than max batch size of 5461')."""
    import numpy as np
    from llama_index.core.schema import TextNode

    from assistant.index.vectors import VectorIndex
    from assistant.settings import Settings

    vectors = VectorIndex(Settings(index_dir=tmp_path / "index"))
    count = vectors.client.get_max_batch_size() + 10
    rng = np.random.default_rng(0)
    nodes = [TextNode(id_=f"doc-{n:05d}", text=f"chunk {n}", embedding=rng.standard_normal(8).tolist()) for n in range(count)]
    vectors.add(nodes)
    assert vectors.count() == count
