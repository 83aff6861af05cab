"""The span reader: names the answer's exact words in a passage, or scores that the passage has none.

The model (``assistant/models/span_reader``, trained by ``python -m assistant.training.span``, model
card beside it) is a MiniLM-L6 extractive QA model: it reads question + passage and gives every word
piece a start and an end logit; position 0 ([CLS]) stands for "no answer here" (SQuAD 2.0). A span's
score is its start + end logits minus the no-answer score of its window, so above 0 the model prefers
the span to "no answer". A passage longer than the window is read in overlapping windows. Like the
sentence reader, it runs in fp32 from int8 weights on every CPU (``assistant/inference.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from assistant.answering.model_files import MODEL_FILE, READER_DIRS, TOKENIZER_FILE, ReaderError, load_model_files

SPAN_READER_DIR = READER_DIRS["span"]
MAX_LENGTH = 192  # word pieces of a window, as trained (SpanRecipe.max_length)
STRIDE = 64  # word pieces two windows of one passage share
MAX_QUESTION_TOKENS = 64  # a longer question (a follow-up with its earlier turns) keeps its last word pieces
MAX_ANSWER_TOKENS = 30
REBUILD = "python -m assistant.training.span, then assistant train-reader --recalibrate"


@dataclass(frozen=True)
class Span:
    start: int  # characters of the passage read
    end: int
    score: float  # start + end logits minus the no-answer score of its window


@dataclass
class Window:
    starts: np.ndarray  # start logits of the passage's word pieces in this window
    ends: np.ndarray
    offsets: np.ndarray  # (n, 2) character offsets of those word pieces in the passage
    no_answer: float  # start + end logits of [CLS]


@dataclass
class PassageReading:
    windows: list[Window]

    @property
    def no_answer(self) -> float:
        return min(w.no_answer for w in self.windows)

    def best_span(self, first: int = 0, last: int | None = None) -> Span | None:
        """The best span lying within characters first:last of the passage (all of it by default)."""
        best = None
        for window in self.windows:
            inside = window.offsets[:, 0] >= first
            if last is not None:
                inside &= window.offsets[:, 1] <= last
            index = np.flatnonzero(inside)
            if index.size == 0:
                continue
            starts, ends = window.starts[index], window.ends[index]
            scores = starts[:, None] + ends[None, :]
            gap = np.arange(index.size)[None, :] - np.arange(index.size)[:, None]
            scores[(gap < 0) | (gap >= MAX_ANSWER_TOKENS)] = -np.inf
            i, j = np.unravel_index(int(np.argmax(scores)), scores.shape)
            score = float(scores[i, j]) - window.no_answer
            if best is None or score > best.score:
                best = Span(int(window.offsets[index[i], 0]), int(window.offsets[index[j], 1]), score)
        return best


class SpanReader:
    """Loads the ONNX span model and its calibration; raises ReaderError naming a missing or corrupt file.

    ``cache_dir`` keeps the fp32 form of the model that every CPU runs (assistant/inference.py)."""

    def __init__(self, folder: Path = SPAN_READER_DIR, threads: int = 0, cache_dir: Path | None = None):
        from tokenizers import Tokenizer

        self.folder = folder
        self.calibration, self._tokenizer, self._session = load_model_files(folder, threads, cache_dir, REBUILD)
        self._tokenizer.no_padding()
        self._tokenizer.no_truncation()
        self._question_tokenizer = Tokenizer.from_file(str(folder / TOKENIZER_FILE))
        self._question_tokenizer.no_padding()
        self._question_tokenizer.no_truncation()
        self._tokenizer.enable_truncation(MAX_LENGTH, stride=STRIDE, strategy="only_second")
        self._inputs = {i.name for i in self._session.get_inputs()}
        if [o.name for o in self._session.get_outputs()] != ["start_logits", "end_logits"]:
            raise ReaderError(f"{folder / MODEL_FILE} is not a span reader (a sentence reader? ASSISTANT_READER=sentence)")

    def count_tokens(self, text: str) -> int:
        """Word pieces of text in the reader's vocabulary (usage reports of the API)."""
        return len(self._question_tokenizer.encode(text, add_special_tokens=False).ids)

    def _short_question(self, question: str) -> str:
        encoding = self._question_tokenizer.encode(question, add_special_tokens=False)
        if len(encoding.ids) <= MAX_QUESTION_TOKENS:
            return question
        return question[encoding.offsets[-MAX_QUESTION_TOKENS][0] :]

    def read(self, question: str, passages: list[str], batch_size: int = 16) -> list[PassageReading]:
        """Each passage read against the question, in as many windows as it needs."""
        question = self._short_question(question)
        encodings, owners = [], []
        for n, encoding in enumerate(self._tokenizer.encode_batch([(question, p) for p in passages])):
            for window in [encoding, *encoding.overflowing]:
                encodings.append(window)
                owners.append(n)
        read: list[Window | None] = [None] * len(encodings)
        order = sorted(range(len(encodings)), key=lambda i: len(encodings[i].ids))  # little padding per batch
        for first in range(0, len(order), batch_size):
            batch = [encodings[i] for i in order[first : first + batch_size]]
            width = max(len(e.ids) for e in batch)
            feed = {
                name: np.array([getattr(e, field) + [0] * (width - len(e.ids)) for e in batch], dtype=np.int64)
                for name, field in (("input_ids", "ids"), ("attention_mask", "attention_mask"), ("token_type_ids", "type_ids"))
            }
            starts, ends = self._session.run(None, {k: v for k, v in feed.items() if k in self._inputs})
            for row, i in enumerate(order[first : first + batch_size]):
                passage = np.array([s == 1 for s in encodings[i].sequence_ids])
                read[i] = Window(
                    starts[row, : len(passage)][passage],
                    ends[row, : len(passage)][passage],
                    np.array(encodings[i].offsets, dtype=np.int64)[passage],
                    float(starts[row, 0] + ends[row, 0]),
                )
        readings = [PassageReading([]) for _ in passages]
        for owner, window in zip(owners, read):  # each passage's windows in the order they cover it
            readings[owner].windows.append(window)
        return readings
