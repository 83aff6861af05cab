"""The reader: the project's trained cross-encoder scores how well each sentence answers the question.

The model (``assistant/models/reader``, made by ``assistant train-reader``, model card beside it)
is a MiniLM-L6 cross-encoder exported to ONNX (int8 weights) and run with onnxruntime in fp32, so
that every CPU computes the same logits (``assistant/inference.py``). Its logit is one signal of the
calibration (``assistant/answering/calibration.py``), loaded with it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from assistant.answering.calibration import Calibration

MODELS_DIR = Path(__file__).resolve().parent.parent / "models"
READER_DIRS = {"span": MODELS_DIR / "span_reader", "sentence": MODELS_DIR / "reader"}  # the shipped one of each kind
READER_DIR = READER_DIRS["sentence"]
MODEL_FILE, TOKENIZER_FILE, CALIBRATION_FILE = "model.onnx", "tokenizer.json", "calibration.json"
MAX_LENGTH = 256  # word pieces of question + sentence; longer pairs lose words from the longer side first
REBUILD = "assistant train-reader"


class ReaderError(RuntimeError):
    """The reader's files are missing or unreadable; the message names the file and how to rebuild it."""


def load_model_files(folder: Path, threads: int, cache_dir: Path | None, rebuild: str):
    """(calibration, tokenizer, ONNX session) of a reader folder; ReaderError naming a missing or corrupt file."""
    from tokenizers import Tokenizer

    from assistant.inference import onnx_session, reader_model_for_every_cpu

    for name in (MODEL_FILE, TOKENIZER_FILE, CALIBRATION_FILE):
        if not (folder / name).is_file():
            raise ReaderError(f"the reader file {folder / name} is missing; rebuild it with `{rebuild}`")
    try:
        calibration = Calibration.load(folder / CALIBRATION_FILE)
        tokenizer = Tokenizer.from_file(str(folder / TOKENIZER_FILE))
        session = onnx_session(reader_model_for_every_cpu(folder / MODEL_FILE, cache_dir), threads)
    except Exception as exc:  # a truncated or foreign file: say which, not a traceback from deep inside
        raise ReaderError(f"the reader in {folder} cannot be loaded ({exc}); rebuild it with `{rebuild}`") from None
    return calibration, tokenizer, session


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


def load_reader(kind: str = "span", folder: Path | None = None, threads: int = 0, cache_dir: Path | None = None):
    """The reader of that kind (Settings.reader): "span" names the answer's words, "sentence" scores whole sentences."""
    if kind not in READER_DIRS:
        raise ValueError(f"unknown reader {kind!r}: 'span' or 'sentence'")
    if kind == "span":
        from assistant.answering.span_reader import SpanReader

        return SpanReader(folder or READER_DIRS[kind], threads, cache_dir)
    return Reader(folder or READER_DIRS[kind], threads, cache_dir)
