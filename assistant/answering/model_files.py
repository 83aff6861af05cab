"""The trained readers' files: where each shipped reader lives, loading its three files, the error naming a bad one.

Shared by both readers (``reader.Reader``, the sentence scorer, and ``span_reader.SpanReader``, the default);
``readers.load_reader`` picks one.
"""

from __future__ import annotations

from pathlib import Path

from assistant.answering.calibration import Calibration
from assistant.errors import AssistantError, disk_full

MODELS_DIR = Path(__file__).resolve().parent.parent / "models"
READER_DIRS = {"span": MODELS_DIR / "span_reader", "sentence": MODELS_DIR / "reader"}  # the shipped one of each kind
READER_DIR = READER_DIRS["sentence"]
MODEL_FILE, TOKENIZER_FILE, CALIBRATION_FILE = "model.onnx", "tokenizer.json", "calibration.json"


class ReaderError(AssistantError, RuntimeError):
    """The reader's files are missing or unreadable; the message names the file and how to rebuild it."""

    exit_code, http_status, code = 6, 503, "reader_unavailable"


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
        full = disk_full(exc)  # the fp32 form could not be written: the reader is fine, the disk is not
        if full is not None:
            raise full from None
        raise ReaderError(f"the reader in {folder} cannot be loaded ({exc}); rebuild it with `{rebuild}`") from None
    return calibration, tokenizer, session
