"""Ingest: read → chunk → embed → store, incrementally by content hash and safe against crashes.

Order of writes for one document: vectors first, then the catalog in one transaction. The
catalog is the source of truth, so a crash in between leaves vectors that no catalog row names;
the ``dirty`` flag makes the next ingest reconcile them (and rebuild BM25) before anything else.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from assistant.index.catalog import DocumentRecord, chunk_id, doc_id_of, indexed_text
from assistant.index.embedding import BULK_MIN_BATCH, Encoder
from assistant.index.lock import write_lock
from assistant.index.store import Index, NoIndexError, has_index
from assistant.ingest.chunking import Chunk, chunk_text
from assistant.ingest.loaders import Limits, LoadError, load_document
from assistant.settings import SUPPORTED_SUFFIXES, Settings

GROUP_CHUNKS = 512  # chunks embedded and written together: the unit of progress lost to a crash


@dataclass
class IngestReport:
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)
    chunks_embedded: int = 0
    chunks_reused: int = 0  # vectors copied from an identical document already indexed (moved or copied files)
    excluded: list[str] = field(default_factory=list)  # removed with `delete` (the file kept): a folder scan skips them
    seconds: float = 0.0
    # Where the time went, in seconds of this thread: reading and chunking, waiting for the encoder (its load
    # and whatever of the embedding was not hidden behind reading), storing, and rebuilding BM25. read_chunk_cpu
    # is this thread's CPU time reading and chunking: its wall time also counts the cores the encoder holds meanwhile.
    stages: dict[str, float] = field(
        default_factory=lambda: dict.fromkeys(("read_chunk", "read_chunk_cpu", "embed_wait", "store", "bm25"), 0.0)
    )

    def summary(self) -> str:
        skipped = f", skipped {len(self.excluded)} removed with delete" if self.excluded else ""
        return (
            f"added {len(self.added)}, updated {len(self.updated)}, removed {len(self.removed)}, "
            f"unchanged {len(self.unchanged)}, failed {len(self.failed)}{skipped}; "
            f"{self.chunks_embedded} chunks embedded"
            + (f", {self.chunks_reused} reused" if self.chunks_reused else "")
            + f" in {self.seconds:.1f} s"
        )


@dataclass
class _Pending:
    doc_id: str
    path: str
    title: str
    sha256: str
    text: str
    chunks: list[Chunk]
    is_update: bool
    same_as: str | None = None  # an indexed document with the same bytes (moved, renamed or copied): reuse its vectors
    encoding: str = ""


def document_id(path: str) -> str:
    return hashlib.sha1(path.encode()).hexdigest()[:16]


# Links are followed to regular files only, never into the kernel's own trees (a corpus entry linking to
# /proc/self/mem was read); a document is recorded under its path in the corpus, not under its link's target.
KERNEL_TREES = (Path("/proc"), Path("/sys"), Path("/dev"))


def scan(roots: list[Path]) -> tuple[list[Path], list[tuple[str, str]], list[Path]]:
    """Files to index, failures (missing roots, unsupported named files, entries that are not regular files, folders
    that cannot be listed) and the folders scanned. Hidden files and folders are left out; links to folders too."""
    files, failures, folders = [], [], []

    def add(path: Path) -> None:
        reason = _not_indexable(path)
        if reason:
            failures.append((path.as_posix(), reason))
        else:
            files.append(path)

    for root in roots:
        if root.is_dir():  # a corpus folder that is itself a link is followed: it was named
            base = root.resolve()
            folders.append(base)

            def unlistable(error: OSError) -> None:
                failures.append((str(error.filename), f"cannot list this folder: {error.strerror or error}"))

            for folder, subfolders, names in os.walk(base, onerror=unlistable):
                subfolders[:] = sorted(name for name in subfolders if not name.startswith("."))
                linked_folders = [name for name in subfolders if (Path(folder) / name).is_symlink()]
                for name in sorted(names) + linked_folders:
                    path = Path(folder) / name
                    if not name.startswith(".") and (name in linked_folders or not _is_plain_unsupported(path)):
                        add(path)
        elif root.exists() or root.is_symlink():
            add(Path(os.path.abspath(root)))  # a named file of an unsupported type: the loader says so
        else:
            failures.append((str(root), "no such file or folder"))
    return list(dict.fromkeys(files)), failures, folders


def _is_plain_unsupported(path: Path) -> bool:
    """A regular file of a type the loaders do not read: skipped quietly in a folder, as an image or a script is."""
    return not path.is_symlink() and path.is_file() and path.suffix.lower() not in SUPPORTED_SUFFIXES


def _not_indexable(path: Path) -> str | None:
    """Why this entry cannot be indexed, or None: a link is followed to a regular file outside the kernel's trees."""
    if path.is_symlink():
        try:
            target = path.resolve(strict=True)
        except (OSError, RuntimeError):
            return "a broken or looping symbolic link"
        if any(target.is_relative_to(tree) for tree in KERNEL_TREES):
            return f"a symbolic link into {target.parts[0]}{target.parts[1]}: not followed"
        if target.is_dir():
            return "a symbolic link to a folder: not followed (name the folder itself to index it)"
    try:
        mode = path.stat().st_mode
    except OSError as exc:
        return f"cannot read: {exc.strerror or exc}"
    if not stat.S_ISREG(mode):
        kind = "a FIFO" if stat.S_ISFIFO(mode) else "a socket" if stat.S_ISSOCK(mode) else "a device or special file"
        return f"not a regular file ({kind})"
    return None


def ingest(
    settings: Settings,
    paths: list[Path] | None = None,
    *,
    rebuild: bool = False,
    encoder: Encoder | None = None,
) -> IngestReport:
    started = time.perf_counter()
    with write_lock(settings.index_dir, settings.database_url):
        if rebuild:  # files removed from the index on purpose stay out of it (they are the user's choice)
            excluded = _excluded_before_rebuild(settings)
            _drop_index(settings)
        encoder = encoder or Encoder.for_settings(settings)
        # One group is embedded in a worker thread (the runtimes release the GIL) while this thread
        # reads and chunks the next files and stores the group before it; writes stay in this thread, in order.
        # The worker starts by loading the encoder (a first run exports it: ~15 s here) while this thread opens
        # the index and reads the first files.
        embedding = ThreadPoolExecutor(max_workers=1, thread_name_prefix="embed")
        embedding.submit(encoder.load)
        try:
            index = Index(settings, create=True)
            index.check_compatible(encoder.fingerprint, encoder.dim)
            if rebuild and excluded:
                index.catalog.set_excluded_paths(excluded)
            if index.catalog.get_meta("dirty") == "1":
                _reconcile(index)

            report = IngestReport()
            files, report.failed, folders = scan(paths or [settings.corpus_dir])
            excluded = index.catalog.excluded_paths()
            named = {Path(p).resolve().as_posix() for p in paths or [] if Path(p).is_file()}
            if excluded & named:  # a file named on purpose comes back
                excluded -= named
                index.catalog.set_excluded_paths(excluded)
            report.excluded = sorted(f.as_posix() for f in files if f.as_posix() in excluded)
            files = [f for f in files if f.as_posix() not in excluded]
            known = {doc.path: doc for doc in index.catalog.documents()}
            pending: list[_Pending] = []
            to_embed = _ChunkCounter()
            in_flight: list[_EmbeddedGroup] = []

            def flush(last: bool = False) -> None:
                if pending:
                    index.catalog.set_meta(dirty=1)
                    bulk = to_embed.total >= BULK_MIN_BATCH  # a large ingest: every group on the bulk path
                    in_flight.append(_embed_group(index, encoder, pending.copy(), settings.embed_batch_size, bulk, embedding))
                    pending.clear()
                while len(in_flight) > (0 if last else 1):
                    _store_group(index, in_flight.pop(0), report, to_embed)

            for doc in _changed_documents(files, known, settings, report):
                pending.append(doc)
                if doc.same_as is None:
                    to_embed.add(len(doc.chunks))
                if sum(len(p.chunks) for p in pending) >= GROUP_CHUNKS:
                    flush()
            flush(last=True)
        finally:
            embedding.shutdown(cancel_futures=True)

        seen = {file.as_posix() for file in files}
        for path, doc in known.items():
            if path not in seen and _under(path, folders, files):
                index.catalog.set_meta(dirty=1)
                index.remove_document(doc.doc_id)
                report.removed.append(path)

        if index.catalog.get_meta("dirty") == "1" or index.saved_bm25.stamp() is None:
            bm25_started = time.perf_counter()
            index.rebuild_bm25()
            report.stages["bm25"] += time.perf_counter() - bm25_started
            index.catalog.set_meta(dirty=0)
        to_embed.close()
        report.seconds = time.perf_counter() - started
        index.stamp_ingest(report.seconds)
        return report


def _changed_documents(files: list[Path], known: dict[str, DocumentRecord], settings: Settings, report: IngestReport):
    """Read and chunk the files that are new or changed; unreadable ones go to the report's failures."""
    known_by_sha = {doc.sha256: doc.doc_id for doc in known.values()}
    for file in files:
        path = file.as_posix()
        try:
            raw = file.read_bytes()
        except OSError as exc:
            report.failed.append((path, f"cannot read: {exc.strerror or exc}"))
            continue
        sha = hashlib.sha256(raw).hexdigest()
        if path in known and known[path].sha256 == sha:
            report.unchanged.append(path)
            continue
        started, started_cpu = time.perf_counter(), time.thread_time()
        try:
            document = load_document(file, Limits(settings.max_document_chars, int(settings.max_docx_unzipped_mb * 1e6)))
            chunks = chunk_text(document.text, settings.resolved_model_path(), settings.chunk_size, settings.chunk_overlap)
            if len(chunks) > settings.max_chunks_per_document:
                raise LoadError(
                    f"makes {len(chunks):,} chunks, over the limit of {settings.max_chunks_per_document:,} for one file "
                    "(ASSISTANT_MAX_CHUNKS_PER_DOCUMENT)"
                )
        except LoadError as exc:
            report.failed.append((path, str(exc)))
            continue
        except Exception as exc:  # noqa: BLE001 -- one file that breaks a library is reported; the rest are indexed
            report.failed.append((path, f"could not be read or chunked: {type(exc).__name__}: {exc}"))
            continue
        finally:
            report.stages["read_chunk"] += time.perf_counter() - started
            report.stages["read_chunk_cpu"] += time.thread_time() - started_cpu
        yield _Pending(
            document_id(path), path, document.title, sha, document.text, chunks, path in known, known_by_sha.get(sha),
            document.encoding,
        )  # fmt: skip


def delete_documents(settings: Settings, doc_ids: list[str], *, files_under: Path | None = None) -> list[str]:
    """Remove documents from the vectors, the catalog and BM25; the paths removed, in order.

    With ``files_under``, a document's file is deleted too when it lies in that folder: first, so a
    crash half-way leaves a file gone from the corpus, which the next ingest drops from the index.
    A file left in place is remembered as removed on purpose: a folder ingest skips it (``ingest PATH`` adds it back).
    """
    with write_lock(settings.index_dir, settings.database_url):
        index = Index(settings)
        if index.catalog.get_meta("dirty") == "1":  # a crashed write: repaired before this delete may clear the flag
            _reconcile(index)
        bm25_current = index.saved_bm25.generation() == index.catalog.generation
        removed = []
        for doc_id in doc_ids:
            record = index.catalog.document(doc_id)
            if record is None:
                continue
            if files_under is not None and Path(record.path).is_relative_to(files_under.resolve()):
                Path(record.path).unlink(missing_ok=True)
            else:
                index.catalog.set_excluded_paths(index.catalog.excluded_paths() | {record.path})
            index.catalog.set_meta(dirty=1)
            index.remove_document(doc_id)
            removed.append(record.path)
        if removed:
            if bm25_current:  # keep it: retrieval skips the chunks the catalog no longer lists
                index.saved_bm25.accept_deletions(index.catalog.generation)
            else:
                index.rebuild_bm25()
            index.catalog.set_meta(dirty=0)
        return removed


class _ChunkCounter:
    """A progress bar over chunks to embed (tqdm shows it on terminals only)."""

    def __init__(self) -> None:
        self.total = 0
        self._bar = None

    def add(self, n: int) -> None:
        self.total += n
        if self._bar is not None:
            self._bar.total = self.total
            self._bar.refresh()

    def advance(self, n: int) -> None:
        if self._bar is None:
            from tqdm import tqdm

            self._bar = tqdm(total=self.total, unit="chunk", desc="embedding", disable=None, leave=False)
        self._bar.update(n)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()


@dataclass
class _EmbeddedGroup:
    group: list[_Pending]
    vectors: dict[str, np.ndarray]  # doc_id -> its chunks' vectors, for documents whose vectors were reused
    encoding: Future  # the vectors of the other documents' chunks, in order


def _embed_group(
    index: Index, encoder: Encoder, group: list[_Pending], batch_size: int, bulk: bool, pool: ThreadPoolExecutor
) -> _EmbeddedGroup:
    vectors = _reusable_vectors(index, group)  # read here: the store is only touched from the ingesting thread
    texts = [indexed_text(doc.title, c.text) for doc in group if doc.doc_id not in vectors for c in doc.chunks]
    return _EmbeddedGroup(group, vectors, pool.submit(encoder.encode, texts, batch_size, bulk=bulk))


def _store_group(index: Index, embedded: _EmbeddedGroup, report: IngestReport, bar: _ChunkCounter) -> None:
    from llama_index.core.schema import NodeRelationship, RelatedNodeInfo, TextNode

    group, vectors = embedded.group, embedded.vectors
    fresh = [doc for doc in group if doc.doc_id not in vectors]
    bar.add(sum(len(doc.chunks) for doc in fresh if doc.same_as))  # reuse fell through: they are embedded after all
    waited = time.perf_counter()
    encoded = embedded.encoding.result()
    stored = time.perf_counter()
    report.stages["embed_wait"] += stored - waited
    offset = 0
    for doc in fresh:
        vectors[doc.doc_id] = encoded[offset : offset + len(doc.chunks)]
        offset += len(doc.chunks)
    report.chunks_embedded += len(encoded)
    report.chunks_reused += sum(len(doc.chunks) for doc in group) - len(encoded)
    bar.advance(len(encoded))
    nodes = []
    for doc in group:
        doc_id = doc.doc_id
        nodes += [
            TextNode(
                id_=chunk_id(doc_id, c.n),
                text=c.text,
                embedding=vectors[doc_id][c.n].tolist(),
                metadata={
                    "path": doc.path,
                    "title": doc.title,
                    "chunk": c.n,
                    "start": c.start,
                    "end": c.end,
                    "sha256": doc.sha256,
                },
                relationships={NodeRelationship.SOURCE: RelatedNodeInfo(node_id=doc_id)},
            )
            for c in doc.chunks
        ]
        if doc.is_update:
            index.vectors.delete_document(doc_id)  # a changed document's old chunks go first
    index.vectors.add(nodes)  # one call per group: each Chroma write costs ~20 ms whatever its size
    for doc in group:
        record = DocumentRecord(doc.doc_id, doc.path, doc.title, doc.sha256, len(doc.chunks), time.time(), doc.encoding)
        index.catalog.put_document(record, doc.text, [(c.start, c.end) for c in doc.chunks])
        (report.updated if doc.is_update else report.added).append(doc.path)
    report.stages["store"] += time.perf_counter() - stored


def _reusable_vectors(index: Index, group: list[_Pending]) -> dict[str, np.ndarray]:
    """Vectors of documents whose bytes are already indexed under another path, read back from the store.

    Same bytes give the same text, title and chunks (the index refuses other chunk settings), so
    the stored vectors are the ones encoding would give; a moved corpus is not embedded again.
    The hash is checked on the stored vectors: the other document may have changed earlier in this run.
    """
    reused = {}
    for doc in group:
        if doc.same_as is not None:
            stored = index.vectors.embeddings(index.catalog.chunk_ids(doc.same_as), doc.sha256)
            if stored is not None and len(stored) == len(doc.chunks):
                reused[doc.doc_id] = stored
    return reused


def _under(path: str, folders: list[Path], files: list[Path]) -> bool:
    candidate = Path(path)
    return candidate in files or any(candidate.is_relative_to(folder) for folder in folders)


def _reconcile(index: Index) -> None:
    """After a crash: drop vectors the catalog does not vouch for, and forget documents whose vectors are gone."""
    catalog_shas = index.catalog.chunk_shas()
    vector_shas = index.vectors.id_shas()
    strays = [cid for cid, sha in vector_shas.items() if catalog_shas.get(cid) != sha]
    index.vectors.delete_ids(strays)
    broken_docs = {doc_id_of(cid) for cid, sha in catalog_shas.items() if vector_shas.get(cid) != sha}
    for doc_id in broken_docs:
        index.vectors.delete_document(doc_id)
        index.catalog.remove_document(doc_id)
    index.rebuild_bm25()


def _excluded_before_rebuild(settings: Settings) -> set[str]:
    if not has_index(settings):
        return set()
    try:
        return Index(settings).catalog.excluded_paths()
    except NoIndexError:  # server mode with an empty database
        return set()


def _drop_index(settings: Settings) -> None:
    """Start from empty: the collection, the catalog and BM25 (the exported encoder is kept)."""
    from assistant.index.catalog import Catalog
    from assistant.index.database import open_database
    from assistant.index.vectors import VectorIndex

    vectors = VectorIndex(settings)
    if settings.database_url:  # emptied, not dropped: other hosts keep their handles on both
        vectors.delete_ids(list(vectors.id_shas()))
        Catalog(open_database(settings.index_dir, settings.database_url)).clear()
    else:
        vectors.client.delete_collection(settings.collection)
    for name in ("catalog.sqlite", "catalog.sqlite-wal", "catalog.sqlite-shm"):
        (settings.index_dir / name).unlink(missing_ok=True)
    shutil.rmtree(settings.index_dir / "bm25", ignore_errors=True)
