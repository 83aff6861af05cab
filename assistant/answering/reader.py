"""The reader: the project's trained cross-encoder scores how well each sentence answers the question.

The model (``assistant/models/reader``, made by ``assistant train-reader``, model card beside it)
is a MiniLM-L6 cross-encoder exported to ONNX (int8 weights) and run with onnxruntime in fp32, so
that every CPU computes the same logits (``assistant/inference.py``). Its logit is one signal of the
calibration (``assistant/answering/calibration.py``), loaded with it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from assistant.answering.model_files import READER_DIR, TOKENIZER_FILE, load_model_files

MAX_LENGTH = 256  # word pieces of question + sentence; longer pairs lose words from the longer side first
REBUILD = "assistant train-reader"


class Reader:
    """Loads the ONNX cross-encoder and its calibration; raises ReaderError naming a missing or corrupt file.

    ``cache_dir`` keeps the fp32 form of the model that every CPU runs (assistant/inference.py)."""

    def __init__(self, folder: Path = READER_DIR, threads: int = 0, cache_dir: Path | None = None):
        self.folder = folder
        self.calibration, self._tokenizer, self._session = load_model_files(folder, threads, cache_dir, REBUILD)
        self._tokenizer.enable_truncation(MAX_LENGTH, strategy="longest_first")
        self._tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")
        self._inputs = {i.name for i in self._session.get_inputs()}
        self._counter = None  # an untruncated copy of the tokenizer, made when the API first counts

    def count_tokens(self, text: str) -> int:
        """Word pieces of text in the reader's vocabulary (usage reports of the API)."""
        if self._counter is None:
            from tokenizers import Tokenizer

            counter = Tokenizer.from_file(str(self.folder / TOKENIZER_FILE))
            counter.no_truncation()
            counter.no_padding()
            self._counter = counter
        return len(self._counter.encode(text, add_special_tokens=False).ids)

    def score(self, question: str, sentences: list[str], batch_size: int = 32) -> np.ndarray:
        """One logit per sentence: how well it answers the question."""
        logits = np.empty(len(sentences), dtype=np.float32)
        order = sorted(range(len(sentences)), key=lambda i: len(sentences[i]))  # little padding per batch
        for first in range(0, len(order), batch_size):
            batch = order[first : first + batch_size]
            encodings = self._tokenizer.encode_batch([(question, sentences[i]) for i in batch])
            feed = {
                "input_ids": np.array([e.ids for e in encodings], dtype=np.int64),
                "attention_mask": np.array([e.attention_mask for e in encodings], dtype=np.int64),
                "token_type_ids": np.array([e.type_ids for e in encodings], dtype=np.int64),
            }
            logits[batch] = self._session.run(None, {k: v for k, v in feed.items() if k in self._inputs})[0].reshape(-1)
        return logits
