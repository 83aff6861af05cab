"""Embed: the sentence-transformers model, exported once to ONNX, run by ONNX Runtime or OpenVINO.

The model is exported once from its own weights (torch) to ONNX with mean pooling and
normalisation built in; afterwards every process loads it in ~0.2 s instead of the 4.5 s that
importing sentence-transformers takes, which keeps a cold `assistant ask` short. A test checks
that its vectors match `SentenceTransformer.encode` on the same texts.

Large batches (ingest) run the same ONNX file in OpenVINO's runtime: in bfloat16 where the CPU
computes it natively (avx512_bf16 / AMX), vectors within cosine 0.999 of fp32 (a test checks it),
and in fp32 elsewhere, where OpenVINO is faster than both ONNX Runtime and torch on AVX2 (README,
"Same answers on every CPU"). Queries stay on ONNX Runtime fp32 (it loads faster than OpenVINO
compiles), so a question's vector is the same on every CPU.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from assistant.inference import cpu_has_native_bf16, onnx_session

if TYPE_CHECKING:
    from assistant.settings import Settings

BULK_MIN_BATCH = 512  # below this, compiling the OpenVINO model costs more than it saves


def model_fingerprint(model_path: Path) -> str:
    """Cheap identity of a model folder: its config, tokenizer and the head of its weights."""
    digest = hashlib.sha256()
    for name in ("config.json", "tokenizer.json", "modules.json"):
        file = model_path / name
        if file.exists():
            digest.update(file.read_bytes())
    weights = model_path / "model.safetensors"
    if weights.exists():
        digest.update(str(weights.stat().st_size).encode())
        with weights.open("rb") as handle:
            digest.update(handle.read(1 << 20))
    return digest.hexdigest()[:16]


def embedding_dimension(model_path: Path) -> int:
    """The vectors' length, from the pooling layer's config (the export is mean pooling over the transformer)."""
    pooling = model_path / "1_Pooling" / "config.json"
    if pooling.exists():
        return int(json.loads(pooling.read_text())["word_embedding_dimension"])
    return int(json.loads((model_path / "config.json").read_text())["hidden_size"])


def max_seq_length(model_path: Path) -> int:
    config = model_path / "sentence_bert_config.json"
    if config.exists():
        return int(json.loads(config.read_text()).get("max_seq_length", 256))
    return 256


class Encoder:
    """Normalised sentence embeddings from an ONNX export of a sentence-transformers model."""

    def __init__(self, model_path: Path, cache_dir: Path, threads: int = 0, precision: str = "auto"):
        from tokenizers import Tokenizer

        self.model_path = model_path
        self.fingerprint = model_fingerprint(model_path)
        self.dim = embedding_dimension(model_path)
        self.onnx_file = cache_dir / f"{self.fingerprint}.onnx"
        self._threads = threads
        self._session = None  # made on first use: the first export takes ~15 s, which ingest overlaps with reading
        self._loading = threading.Lock()

        self._tokenizer = Tokenizer.from_file(str(model_path / "tokenizer.json"))
        # The bundled tokenizer.json truncates and pads at 128; the model is used at 256.
        self._tokenizer.enable_truncation(max_seq_length(model_path))
        self._tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")
        self._recent: dict[str, np.ndarray] = {}
        self.use_bf16 = precision == "bf16" or (precision == "auto" and cpu_has_native_bf16())
        self._bulk_model = None  # OpenVINO's compiled model, made on the first large batch

    def load(self):
        """The ONNX Runtime session, after exporting the model once if this cache has no export yet."""
        with self._loading:
            if self._session is None:
                if not self.onnx_file.exists():
                    export_onnx(self.model_path, self.onnx_file)
                self._session = onnx_session(self.onnx_file, self._threads)
        return self._session

    @classmethod
    def for_settings(cls, settings: Settings) -> Encoder:
        """The encoder an index's settings ask for. Its ONNX export is made once per machine and model, in the
        shared cache (Settings.encoder_cache) keyed by the model's fingerprint, so a new index exports nothing;
        an index folder that holds its own export from before (``index/encoder/``) keeps using it. Two processes
        exporting at once each write a file of their own and rename it into place: the cache is never half written."""
        encoder = cls(settings.resolved_model_path(), settings.resolved_encoder_cache(), precision=settings.embed_precision)
        legacy = settings.index_dir / "encoder" / encoder.onnx_file.name
        if legacy.is_file():
            encoder.onnx_file = legacy
        return encoder

    def encode_query(self, text: str) -> np.ndarray:
        """One text's vector, remembered: retrieval and the answer's re-rank both need the question's."""
        vector = self._recent.get(text)
        if vector is None:
            vector = self.encode([text])[0]
            if len(self._recent) >= 256:
                self._recent.pop(next(iter(self._recent)))
            self._recent[text] = vector
        return vector

    def encode(self, texts: list[str], batch_size: int = 32, *, bulk: bool | None = None) -> np.ndarray:
        """One unit-length vector per text; batches are length-sorted to waste little on padding.

        ``bulk`` (default: at least BULK_MIN_BATCH texts) runs OpenVINO, in bf16 where the CPU has it;
        ingest sets it for every group of a large ingest, so its last, smaller group is no slower.
        """
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        if len(texts) >= BULK_MIN_BATCH if bulk is None else bulk:
            return self._encode_bulk(texts, batch_size)
        session = self._session or self.load()
        return self._run_batches(texts, batch_size, lambda feed: session.run(None, feed)[0])

    def _run_batches(self, texts: list[str], batch_size: int, run) -> np.ndarray:
        """run(feed) -> vectors over length-sorted batches, put back in the order of texts."""
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        vectors = np.empty((len(texts), self.dim), dtype=np.float32)
        for first in range(0, len(order), batch_size):
            batch = order[first : first + batch_size]
            encodings = self._tokenizer.encode_batch([texts[i] for i in batch])
            feed = {
                "input_ids": np.array([e.ids for e in encodings], dtype=np.int64),
                "attention_mask": np.array([e.attention_mask for e in encodings], dtype=np.int64),
            }
            vectors[batch] = run(feed)
        return vectors

    @property
    def bulk_precision(self) -> str:
        return "bf16" if self.use_bf16 else "f32"

    def _encode_bulk(self, texts: list[str], batch_size: int) -> np.ndarray:
        if self._bulk_model is None:
            import openvino

            self.load()  # the export OpenVINO compiles
            self._bulk_model = openvino.Core().compile_model(
                str(self.onnx_file), "CPU", {"INFERENCE_PRECISION_HINT": self.bulk_precision, "PERFORMANCE_HINT": "LATENCY"}
            )
        request = self._bulk_model.create_infer_request()
        vectors = self._run_batches(texts, batch_size, lambda feed: request.infer(feed)[0])
        return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)  # normalised again, in fp32


def export_onnx(model_path: Path, onnx_file: Path) -> None:
    """Export the transformer with mean pooling and L2 normalisation, as sentence-transformers applies them."""
    import warnings

    import torch
    from transformers import AutoModel
    from transformers.utils import logging as transformers_logging

    transformers_logging.set_verbosity_error()
    transformers_logging.disable_progress_bar()

    class PooledEncoder(torch.nn.Module):
        def __init__(self, transformer: torch.nn.Module):
            super().__init__()
            self.transformer = transformer

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            hidden = self.transformer(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(pooled, dim=-1)

    model = PooledEncoder(AutoModel.from_pretrained(str(model_path)).eval())
    example = torch.ones(2, 16, dtype=torch.long)
    onnx_file.parent.mkdir(parents=True, exist_ok=True)
    partial = onnx_file.with_suffix(f".{os.getpid()}.partial")
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer chatter about shapes; the export is checked by a test
        torch.onnx.export(
            model,
            (example, example),
            str(partial),
            input_names=["input_ids", "attention_mask"],
            output_names=["embedding"],
            dynamic_axes={
                "input_ids": {0: "batch", 1: "tokens"},
                "attention_mask": {0: "batch", 1: "tokens"},
                "embedding": {0: "batch"},
            },
            opset_version=17,
            dynamo=False,
        )
    partial.replace(onnx_file)  # atomic: a crash never leaves a half-written model behind
