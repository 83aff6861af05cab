"""The facade every front end calls: ingest, upload, delete, documents, ask (and ask_stream), status."""

from __future__ import annotations

import os
import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from assistant.answering.answer import Answer, not_english
from assistant.answering.extractive import ExtractiveAnswerer
from assistant.settings import Settings
from assistant.text_analysis import question_language

# A question that leans on the conversation: it opens elliptically ("and ...", "what about ...") or is a few words
# ("Why?", "Since when?"); or it holds a pronoun standing for something said before: a person ("he", "her") not
# named in it, or a thing while it says little of its own (a question with a topic of its own, "the volunteer
# group ... when do they run tours?", keeps its "they").
_ELLIPTIC = re.compile(r"^\s*(and|what about|how about)\b", re.I)
_PRONOUN = re.compile(r"\b(it|its|they|them|their|he|him|his|she|her|this|that|these|those|one|ones|there|then)\b", re.I)
_EXISTENTIAL = re.compile(r"\b(is|are|was|were|be|been)\s+there\b|\bthere\s+(is|are|was|were)\b", re.I)
_NAME = re.compile(r"(?<=\s)[A-Z][a-z]+")
_PERSONAL = {"he", "him", "his", "she", "her"}
_AUXILIARIES = {"how", "long", "much", "many", "has", "have", "had", "did", "do", "does", "can", "could", "will", "would"}
SHORT_QUESTION_WORDS = 3
OWN_TOPIC_TERMS = 4  # content terms at which a question is about something of its own (tests/evalsets/follow_ups.jsonl)


def is_follow_up(question: str) -> bool:
    """Whether a question needs the earlier turns to be understood (measured: docs/evaluation.md, follow-ups)."""
    from assistant.text_analysis import QUESTION_WORDS, terms

    if _ELLIPTIC.search(question) or len(question.split()) <= SHORT_QUESTION_WORDS:
        return True
    text = _EXISTENTIAL.sub(" ", question)
    # A pronoun after a name in the question itself ("the mayor of Dunkirk and what is her party") stands for it.
    unresolved = [m for m in _PRONOUN.finditer(text) if not _NAME.search(text, 1, m.start())]
    if not unresolved:
        return False
    if any(m.group().lower() in _PERSONAL for m in unresolved):  # "he", "her": a person only the conversation names
        return True
    own = [t for t in terms(question) if t not in QUESTION_WORDS and t not in _AUXILIARIES and not _PRONOUN.fullmatch(t)]
    return len(own) < OWN_TOPIC_TERMS


def follow_up_context(question: str, history: list[dict] | None) -> str:
    """Earlier user turns to retrieve with, when the question depends on them (is_follow_up)."""
    earlier = [turn["content"] for turn in history or [] if turn.get("role") == "user" and turn.get("content")]
    if not earlier or not is_follow_up(question):
        return ""
    return " ".join(earlier[-2:])


MAX_HISTORY_MESSAGES = 100  # every front end's conversation limits (the /v1 body's own limit is 1 MB too)
MAX_HISTORY_CHARS = 1_000_000


def check_history(history: list[dict] | None) -> list[dict]:
    """The conversation, or ValueError when it is over the limits: its work is bounded whichever front end sent it."""
    history = history or []
    if len(history) > MAX_HISTORY_MESSAGES:
        raise ValueError(f"the conversation has {len(history):,} messages; the limit is {MAX_HISTORY_MESSAGES}")
    if sum(len(str(turn.get("content", ""))) for turn in history) > MAX_HISTORY_CHARS:
        raise ValueError(f"the conversation is over {MAX_HISTORY_CHARS:,} characters long; start a new one")
    return history


def check_question(question: str, max_chars: int) -> str:
    """The question, stripped; ValueError with the reason when it is empty or too long to read."""
    question = (question or "").strip()
    if not question:
        raise ValueError("the question is empty")
    try:
        question.encode("utf-8")
    except UnicodeEncodeError as exc:  # a lone surrogate (undecodable bytes): a message, not a tokenizer traceback
        raise ValueError(f"the question is not valid UTF-8 text (at character {exc.start})") from None
    if len(question) > max_chars:
        raise ValueError(
            f"the question is {len(question):,} characters long; the limit is {max_chars:,} (ASSISTANT_MAX_QUESTION_CHARS)"
        )
    return question


class Assistant:
    """Opens the index lazily; one instance serves many questions, one at a time (its SQLite handle is not thread-safe)."""

    def __init__(self, settings: Settings | None = None, encoder=None, reader=None):
        self.settings = settings or Settings()
        self._index = None
        self._encoder = encoder  # an Encoder to share between assistants (tests); made on first use otherwise
        self._reader = reader  # likewise the Reader
        self._retriever = None
        self._generator = None
        self._lock = threading.Lock()
        self._opening = threading.RLock()
        self._writing = threading.Lock()  # this process's writes (uploads, deletes) wait for each other
        # The preload thread and a question may both want a model: one lock each, so neither waits on the other's.
        self._loading_encoder, self._loading_reader = threading.Lock(), threading.Lock()

    @property
    def encoder(self):
        with self._loading_encoder:
            if self._encoder is None:
                from assistant.index.embedding import Encoder

                self._encoder = Encoder.for_settings(self.settings)
        return self._encoder

    @property
    def reader(self):
        """The trained reader; raises ReaderError naming a missing or corrupt file."""
        with self._loading_reader:
            if self._reader is None:
                from assistant.answering.model_files import READER_DIRS
                from assistant.answering.readers import load_reader

                settings = self.settings
                cache = settings.index_dir / READER_DIRS[settings.reader].name  # index/span_reader or index/reader
                self._reader = load_reader(settings.reader, settings.reader_path, cache_dir=cache)
        return self._reader

    def preload(self) -> threading.Thread | None:
        """Load the encoder's and the reader's ONNX sessions on a thread, so a first question's opening of the index
        (importing chromadb: 0.6–0.9 s of Python, measured) overlaps them (ONNX Runtime makes a session without holding the GIL).
        Failures are left for the question to raise; nothing is loaded where there is no index. The thread, if started."""
        from assistant.index.store import has_index

        def load() -> None:
            try:
                self.encoder.load()
                self.reader  # noqa: B018 -- made for its side effect
            except Exception:  # noqa: BLE001 -- the question loads it again and reports the error
                pass

        if not has_index(self.settings):
            return None
        # Not a daemon: a process that fails early waits for the load to end rather than tear the interpreter
        # down under ONNX Runtime's C++ (a second or less).
        thread = threading.Thread(target=load, name="preload-models")
        thread.start()
        return thread

    @property
    def index(self):
        """The open index; raises NoIndexError when there is none, IndexMismatchError when it was built otherwise.
        Opened once, under a lock: concurrent first requests raced on opening the embedded Chroma client."""
        with self._opening:
            if self._index is None:
                from assistant.index.store import Index

                index = Index(self.settings)
                index.check_compatible(self.encoder.fingerprint, self.encoder.dim)
                self._index = index
            return self._index

    def ingest(self, paths: list[Path] | None = None, *, rebuild: bool = False):
        from assistant.ingest.pipeline import ingest

        try:
            return ingest(self.settings, paths, rebuild=rebuild, encoder=self.encoder)
        finally:
            self._reopen()

    def _reopen(self) -> None:
        """After a write: the next question opens the index afresh (questions in flight keep the old handles)."""
        with self._lock, self._opening:
            self._index = self._retriever = None

    def documents(self):
        return self.index.catalog.documents()

    def document(self, doc_id: str):
        """(record, text) of an indexed document, or None: the viewer shows nothing that is not in the index."""
        record = self.index.catalog.document(doc_id)
        text = self.index.catalog.document_text(doc_id) if record else None
        return (record, text) if record and text is not None else None

    def upload(self, name: str, data: bytes):
        """Store an upload under the corpus folder and index it; UploadError (and nothing written) if refused."""
        from assistant.index.lock import IndexLockedError
        from assistant.ingest.uploads import UploadConflictError, UploadError, check_upload

        clean = check_upload(name, data, int(self.settings.max_upload_mb * 1e6))
        corpus = self.settings.corpus_dir
        target = corpus / clean
        if target.exists():
            raise UploadConflictError(
                f"{clean}: a document with this name is already in the corpus; delete it first or rename the file"
            )
        corpus.mkdir(parents=True, exist_ok=True)
        # A staging file of its own (hidden: an ingest running meanwhile skips it), linked in only if the name is
        # still free: of two uploads of one name at once, one wins and the other is told so.
        staging = corpus / f".{clean}.{os.getpid()}.{threading.get_ident()}.part"
        staging.write_bytes(data)
        # Marked pending until the index holds it: a crash meanwhile is undone at the next start (recover_uploads).
        pending = self._pending_uploads / staging.name
        pending.parent.mkdir(parents=True, exist_ok=True)
        pending.write_text(str(target))
        try:
            os.link(staging, target)
        except FileExistsError:
            pending.unlink()
            raise UploadConflictError(f"{clean}: another upload of this name came first; rename the file") from None
        finally:
            staging.unlink(missing_ok=True)
        try:
            with self._writing:
                report = self.ingest([target])
        except IndexLockedError as exc:
            target.unlink()
            raise UploadError(f"{clean}: not indexed, {exc}") from None
        except BaseException:  # a server down mid-way: the file goes too, so no later ingest adds it unasked
            target.unlink(missing_ok=True)
            raise
        finally:
            pending.unlink(missing_ok=True)
        if report.failed:
            target.unlink(missing_ok=True)
            raise UploadError(f"{clean}: {report.failed[0][1]}")
        return report

    @property
    def _pending_uploads(self) -> Path:
        return self.settings.index_dir / "pending-uploads"

    def recover_uploads(self) -> list[str]:
        """The rule: an upload's file stays in the corpus only once the index holds it. A file a killed upload left
        there unindexed (its client saw the upload fail) is removed at the next start; the paths removed."""
        from assistant.index.store import has_index

        removed = []
        for marker in sorted(self._pending_uploads.glob("*")) if self._pending_uploads.is_dir() else []:
            target = Path(marker.read_text())
            indexed = {d.path for d in self.documents()} if has_index(self.settings) else set()
            if target.exists() and target.resolve().as_posix() not in indexed:
                target.unlink()
                removed.append(str(target))
            marker.unlink()
        return removed

    def delete(self, doc_id: str, remove_file: bool = False) -> str | None:
        """Remove a document from the index; its path. The file stays where it is (a folder ingest then skips it)
        unless ``remove_file`` and it lives under the corpus folder: nothing irreversible by default."""
        from assistant.ingest.pipeline import delete_documents

        try:
            files_under = self.settings.corpus_dir if remove_file else None
            with self._writing:
                removed = delete_documents(self.settings, [doc_id], files_under=files_under)
        finally:
            self._reopen()
        return removed[0] if removed else None

    @property
    def answer_modes(self) -> tuple[str, ...]:
        """The answerers on offer, the default last: generative when an LLM is configured."""
        return ("extractive", "generative") if self.settings.llm != "none" else ("extractive",)

    def ask(
        self,
        question: str,
        history: list[dict] | None = None,
        top_k: int | None = None,
        mode: str | None = None,
        documents: list[str] | None = None,
    ) -> Answer:
        *_, answer = self.ask_stream(question, history, top_k, mode, documents)
        return answer

    def resolve_documents(self, wanted: list[str] | None) -> frozenset[str] | None:
        """Doc ids for document ids or file paths (as listed, or relative to here); ValueError naming one not indexed.
        None or an empty list: every document."""
        if not wanted:
            return None
        documents = self.documents()
        by_id = {d.doc_id for d in documents}
        by_path = {d.path: d.doc_id for d in documents}
        by_name: dict[str, list[str]] = {}
        for d in documents:
            by_name.setdefault(Path(d.path).name, []).append(d.doc_id)
        found = set()
        for item in wanted:
            path = item if item in by_path else Path(item).resolve().as_posix()
            if item in by_id:
                found.add(item)
            elif path in by_path:
                found.add(by_path[path])
            elif len(by_name.get(item, [])) == 1:
                found.add(by_name[item][0])
            else:
                raise ValueError(
                    f"no indexed document {item!r} (give a doc id, a path or a file name: assistant status --documents)"
                )
        return frozenset(found)

    def ask_stream(
        self,
        question: str,
        history: list[dict] | None = None,
        top_k: int | None = None,
        mode: str | None = None,
        documents: list[str] | None = None,
    ) -> Iterator[str | Answer]:
        """The answer's text as it is written (generative mode only), then the final, verified Answer.
        ``documents`` (ids, paths or file names) restricts retrieval to those documents, before ranking."""
        mode = mode or self.answer_modes[-1]
        question = check_question(question, self.settings.max_question_chars)
        history = check_history(history)
        only = self.resolve_documents(documents)
        if mode not in self.answer_modes:
            raise ValueError(f"answer mode {mode!r} is not configured; available: {', '.join(self.answer_modes)}")
        started = time.perf_counter()
        language = question_language(question)
        if language is not None:  # nothing retrieved or read: the models are English ones
            text = not_english(language)
            answer = Answer(question, text, True, [], [], [], 0.0, outcome="not_found", notice=f"language: {language}")
            yield self._finish(answer, [], started, started)
            return
        notice = None
        if mode == "generative":
            from assistant.answering.llm import LLMError

            try:
                generator = self.generator
                standalone = generator.rewrite(question, history) if history else question
                with self._lock:
                    chunks = self._retrieve(standalone, "", top_k, only)
                retrieved = time.perf_counter()
                for piece in generator.stream(question, chunks):
                    if isinstance(piece, str):
                        yield piece
                    else:
                        yield self._finish(piece, chunks, started, retrieved)
                        return
            except LLMError as exc:
                if not self.settings.llm_fallback:
                    raise
                notice = f"The LLM failed ({exc}); this answer comes from the offline extractive answerer."
        with self._lock:
            context = follow_up_context(question, history)
            chunks = self._retrieve(question, context, top_k, only)
            retrieved = time.perf_counter()
            answerer = ExtractiveAnswerer(self.index.bm25().idf, self.reader, self.settings.max_answer_sentences)
            answer = answerer.answer(question, chunks, context)
        answer.notice = notice
        yield self._finish(answer, chunks, started, retrieved)

    def search(self, query: str, k: int = 5, documents: list[str] | None = None) -> list[dict]:
        """The k passages retrieval finds for a query (of ``documents`` only, when given), best first, unread."""
        query = check_question(query, self.settings.max_question_chars)
        only = self.resolve_documents(documents)
        with self._lock:
            chunks = self._retrieve(query, "", k, only)
        return [
            {"rank": rank, "chunk_id": c.record.chunk_id, "doc_id": c.record.doc_id, "title": c.record.title,
             "path": c.record.path, "start": c.record.start, "end": c.record.end, "text": c.record.text,
             "score": round(c.score, 5), "dense": round(c.dense, 4)}
            for rank, c in enumerate(chunks, start=1)
        ]  # fmt: skip

    @property
    def generator(self):
        if self._generator is None:
            from assistant.answering.generative import GenerativeAnswerer
            from assistant.answering.llm import describe, make_llm

            self._generator = GenerativeAnswerer(
                make_llm(self.settings), self.encoder.encode, self.settings.llm_strict, describe(self.settings)
            )
        return self._generator

    @property
    def retriever(self):
        """The hybrid retriever over the open index, with the settings' fusion."""
        from assistant.retrieval import HybridRetriever

        if self._retriever is None:
            self._retriever = HybridRetriever(
                self.index,
                self.encoder,
                self.settings.candidates,
                self.settings.fusion,
                self.settings.fusion_alpha,
                self.settings.rrf_k,
            )
        return self._retriever

    def _retrieve(self, question: str, context: str, top_k: int | None, documents: frozenset[str] | None = None):
        return self.retriever.retrieve(f"{context} {question}".strip(), top_k or self.settings.top_k, documents=documents)

    @staticmethod
    def _finish(answer: Answer, chunks, started: float, retrieved: float) -> Answer:
        # The reader re-orders the passages (a stable sort: retrieval order breaks ties and orders the unread).
        scores = answer.passage_scores
        order = sorted(range(len(chunks)), key=lambda i: -scores.get(chunks[i].record.chunk_id, -1.0))
        answer.retrieved = []
        for rank, i in enumerate(order, start=1):
            c, reader = chunks[i], scores.get(chunks[i].record.chunk_id)
            answer.retrieved.append({
                "rank": rank,
                "retrieval_rank": i + 1,
                "chunk_id": c.record.chunk_id,
                "doc_id": c.record.doc_id,
                "path": c.record.path,
                "start": c.record.start,
                "end": c.record.end,
                "text": c.record.text,
                "score": round(c.score, 5),
                "dense": round(c.dense, 4),
                "reader": None if reader is None else round(reader, 4),
            })  # fmt: skip
        answer.timings = {"retrieve_ms": (retrieved - started) * 1000, "answer_ms": (time.perf_counter() - retrieved) * 1000}
        return answer

    def status(self) -> dict:
        catalog = self.index.catalog
        return {
            "documents": len(catalog.documents()),
            "chunks": catalog.count_chunks(),
            "vectors": self.index.vectors.count(),
            "model": catalog.get_meta("model_name"),
            "dimension": int(catalog.get_meta("dimension") or 0),
            "index": self.index.location if self.settings.database_url else str(self.settings.index_dir.resolve()),
            "chroma": self.settings.chroma_url or str((self.settings.index_dir / "chroma").resolve()),
            "last_ingest": float(catalog.get_meta("last_ingest") or 0) or None,
        }
