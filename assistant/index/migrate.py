"""Migrate: copy an embedded index (SQLite catalog, embedded Chroma, BM25 files) into the servers of
server mode (PostgreSQL, a Chroma server) without embedding anything again, then check the counts."""

from __future__ import annotations

from dataclasses import dataclass

from assistant.errors import AssistantError
from assistant.index.lexical import Bm25Files
from assistant.index.lock import write_lock
from assistant.index.store import Index
from assistant.settings import Settings

PAGE = 2000  # vectors read and written per Chroma call


class MigrationError(AssistantError):
    """The target is not empty, or the copy does not match its source."""

    exit_code, http_status, kind, code = 2, 400, "invalid_request_error", "migration_refused"


@dataclass
class MigrationReport:
    documents: int
    chunks: int
    vectors: int
    bm25_chunks: int
    generation: int

    def summary(self) -> str:
        return (
            f"copied {self.documents} documents, {self.chunks} chunks, {self.vectors} vectors and BM25 over "
            f"{self.bm25_chunks} chunks (generation {self.generation}); counts checked"
        )


def migrate(source_settings: Settings, target_settings: Settings, *, progress=None) -> MigrationReport:
    """Copy the index at ``source_settings.index_dir`` into ``target_settings``' database and Chroma server."""
    if not target_settings.database_url or not target_settings.chroma_url:
        raise MigrationError("migrate needs both a database URL (--database-url) and a Chroma server (--chroma-url)")
    source = Index(source_settings)
    with write_lock(source_settings.index_dir), write_lock(target_settings.index_dir, target_settings.database_url):
        target = Index(target_settings, create=True)
        if target.catalog.documents() or target.vectors.count():
            raise MigrationError(
                f"the target is not empty ({len(target.catalog.documents())} documents in {target.location}, "
                f"{target.vectors.count()} vectors in collection {target_settings.collection!r}); migrate only into empty servers"
            )
        total = source.vectors.count()
        for offset in range(0, total, PAGE):
            got = source.vectors.collection.get(include=["embeddings", "metadatas", "documents"], limit=PAGE, offset=offset)
            target.vectors.collection.add(
                ids=got["ids"], embeddings=got["embeddings"], metadatas=got["metadatas"], documents=got["documents"]
            )
            if progress:
                progress(min(offset + PAGE, total), total)
        target.catalog.copy_from(source.catalog)  # after the vectors: the catalog vouches only for vectors that are there
        bm25 = Bm25Files(source.bm25_dir).load()
        if bm25 is None or bm25.generation != source.catalog.generation:
            target.rebuild_bm25()
        else:
            target.saved_bm25.save(bm25)
        report = MigrationReport(
            documents=len(target.catalog.documents()),
            chunks=target.catalog.count_chunks(),
            vectors=target.vectors.count(),
            bm25_chunks=len(target.saved_bm25.load().ids),
            generation=target.catalog.generation,
        )
        expected = (len(source.catalog.documents()), source.catalog.count_chunks(), total, source.catalog.generation)
        if (report.documents, report.chunks, report.vectors, report.generation) != expected:
            raise MigrationError(f"the copy does not match its source: {report} against {expected}")
        return report
