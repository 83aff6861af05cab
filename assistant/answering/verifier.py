"""The answer verifier: does this one sentence, with the span reader's words marked, answer the question?

The span reader (span_reader.py) says where in a passage the answer would be; its score separates a passage
that states the answer from one that holds a thing of the same type (the wrong date, the wrong person)
poorly (issue #41). The verifier reads only the question and the candidate sentence, the candidate's words
between « and », so it is short to run, and it was trained on exactly that confusion: answer sentences
against same-type distractor sentences, the wrong span of the right sentence, questions with a name or a
year swapped, and the span reader's own choice on SQuAD 2.0's written near-misses
(``assistant/training/verifier.py``, which writes a model card beside the model). `assistant eval gate
--verifier DIR` measures whether it tells answerable from unanswerable passages better than the span reader;
none has passed that gate yet, so no verifier ships and the answerer does not call one
(docs/answer-quality.md, "The gate, and a verifier that did not pass it").
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from assistant.answering.model_files import MODEL_FILE, MODELS_DIR, TOKENIZER_FILE, ReaderError

VERIFIER_DIR = MODELS_DIR / "verifier"
MAX_LENGTH = 128  # word pieces of question + sentence, as trained
OPEN, CLOSE = "«", "»"
REBUILD = "python -m assistant.training.verifier"


def mark_span(sentence: str, start: int, end: int) -> str:
    """The sentence with characters start:end (relative to it) between the marks the verifier was trained on."""
    return f"{sentence[:start]}{OPEN} {sentence[start:end]} {CLOSE}{sentence[end:]}"


class Verifier:
    """Loads the ONNX verifier; raises ReaderError naming a missing or corrupt file."""

    def __init__(self, folder: Path = VERIFIER_DIR, threads: int = 0, cache_dir: Path | None = None):
        from tokenizers import Tokenizer

        from assistant.inference import onnx_session, reader_model_for_every_cpu

        for name in (MODEL_FILE, TOKENIZER_FILE):
            if not (folder / name).is_file():
                raise ReaderError(f"the verifier file {folder / name} is missing; rebuild it with `{REBUILD}`")
        try:
            self._tokenizer = Tokenizer.from_file(str(folder / TOKENIZER_FILE))
            self._session = onnx_session(reader_model_for_every_cpu(folder / MODEL_FILE, cache_dir), threads)
        except Exception as exc:  # a truncated or foreign file: say which, not a traceback from deep inside
            raise ReaderError(f"the verifier in {folder} cannot be loaded ({exc}); rebuild it with `{REBUILD}`") from None
        self._tokenizer.no_padding()
        self._tokenizer.enable_truncation(MAX_LENGTH, strategy="longest_first")
        self._inputs = {i.name for i in self._session.get_inputs()}

    def score(self, question: str, marked_sentences: list[str], batch_size: int = 32) -> np.ndarray:
        """A logit per (question, marked sentence): above 0, the verifier holds that the sentence answers it."""
        logits = np.zeros(len(marked_sentences), dtype=np.float32)
        encodings = self._tokenizer.encode_batch([(question, s) for s in marked_sentences])
        for first in range(0, len(encodings), batch_size):
            batch = encodings[first : first + batch_size]
            width = max(len(e.ids) for e in batch)
            feed = {
                name: np.array([getattr(e, field) + [0] * (width - len(e.ids)) for e in batch], dtype=np.int64)
                for name, field in (("input_ids", "ids"), ("attention_mask", "attention_mask"), ("token_type_ids", "type_ids"))
            }
            (out,) = self._session.run(None, {k: v for k, v in feed.items() if k in self._inputs})
            logits[first : first + len(batch)] = out.reshape(-1)
        return logits
