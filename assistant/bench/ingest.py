"""Ingest throughput: our ingest against the raw encoder, a plain sentence-transformers process
and LlamaIndex's default pipeline."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from assistant.bench.common import bench_env, bench_settings
from assistant.facade import Assistant
from assistant.settings import Settings


def bench_ingest(scifact: Path, docs: int, workdir: Path) -> dict:
    corpus = workdir / "scifact-corpus"
    corpus.mkdir()
    with (scifact / "corpus.jsonl").open(encoding="utf-8") as lines:
        for _, line in zip(range(docs), lines):
            row = json.loads(line)
            (corpus / f"{row['_id']}.txt").write_text(f"{row['title']}\n{row['text']}", encoding="utf-8")

    assistant = Assistant(bench_settings(workdir / "scifact-index", corpus_dir=corpus))
    assistant.encoder.load()  # export once and load outside the timing, as the raw encoder's load is outside too
    report = assistant.ingest()
    texts = [text for _, text in assistant.index.catalog.iter_indexed_texts()]

    # Our encoder alone on the same texts, in ingest's precision: the ceiling ingest can reach here.
    started = time.perf_counter()
    assistant.encoder.encode(texts, assistant.settings.embed_batch_size, bulk=True)
    encoder_rate = len(texts) / (time.perf_counter() - started)

    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(assistant.settings.resolved_model_path()), device="cpu")
    model.encode(texts[:32])  # warm-up
    started = time.perf_counter()
    model.encode(texts, batch_size=assistant.settings.embed_batch_size, normalize_embeddings=True)
    raw_seconds = time.perf_counter() - started
    ingest_rate = report.chunks_embedded / report.seconds
    raw_rate = len(texts) / raw_seconds
    figures = {
        "documents": docs,
        "chunks": report.chunks_embedded,
        "ingest_chunks_per_s": round(ingest_rate, 1),
        "raw_encode_chunks_per_s": round(raw_rate, 1),
        "encoder_alone_chunks_per_s": round(encoder_rate, 1),
        "encoder_precision": f"{assistant.encoder.bulk_precision} (OpenVINO)",
        "ratio": round(ingest_rate / raw_rate, 2),
        "ingest_seconds": round(report.seconds, 2),
        "ingest_stages_s": {stage: round(seconds, 2) for stage, seconds in report.stages.items()},
    }
    del model
    figures |= bench_whole_process(corpus, texts, workdir)
    peer = bench_peer_ingest(corpus, assistant.settings, workdir / "peer-chroma")
    if peer:
        figures |= peer | {"peer_ratio": round(ingest_rate / peer["peer_chunks_per_s"], 2)}
    return figures


PLAIN_ENCODE = """
import json, sys
from sentence_transformers import SentenceTransformer
texts = json.load(open(sys.argv[2], encoding="utf-8"))
SentenceTransformer(sys.argv[1], device="cpu").encode(texts, batch_size=32, normalize_embeddings=True)
"""


def bench_whole_process(corpus: Path, texts: list[str], workdir: Path) -> dict:
    """`assistant ingest` into a fresh index folder (the machine's encoder export already made, as after install)
    against a process that
    loads sentence-transformers and encodes the same texts (title + chunk, as the catalog records them):
    both timed from process start to exit."""
    texts_file = workdir / "indexed-texts.json"
    texts_file.write_text(json.dumps(texts), encoding="utf-8")
    walls = {}
    for name, command in (
        ("ingest", [str(Path(sys.executable).parent / "assistant"), "ingest", str(corpus)]),
        ("plain", [sys.executable, "-c", PLAIN_ENCODE, str(Settings().resolved_model_path()), str(texts_file)]),
    ):
        started = time.perf_counter()
        subprocess.run(command, env=bench_env(workdir / "whole-process-index"), check=True, capture_output=True)
        walls[name] = time.perf_counter() - started
    return {
        "whole_process_ingest_s": round(walls["ingest"], 1),
        "whole_process_plain_encode_s": round(walls["plain"], 1),
        "whole_process_ratio": round(walls["plain"] / walls["ingest"], 2),
    }


def bench_peer_ingest(corpus: Path, settings: Settings, chroma_dir: Path) -> dict | None:
    """LlamaIndex's default pipeline on the same files and model: VectorStoreIndex.from_documents into Chroma,
    HuggingFaceEmbedding, the SentenceSplitter at our chunk size so that both embed comparable chunks.
    Needs the `bench` extra (llama-index-embeddings-huggingface); skipped without it."""
    try:
        from llama_index.embeddings.huggingface import HuggingFaceEmbedding
    except ImportError:
        print("(llama-index-embeddings-huggingface not installed: pip install -e '.[bench]'; peer ingest skipped)")
        return None
    import chromadb
    from chromadb.config import Settings as ChromaSettings
    from llama_index.core import SimpleDirectoryReader, StorageContext, VectorStoreIndex
    from llama_index.core.node_parser import SentenceSplitter
    from llama_index.vector_stores.chroma import ChromaVectorStore

    client = chromadb.PersistentClient(path=str(chroma_dir), settings=ChromaSettings(anonymized_telemetry=False))
    collection = client.get_or_create_collection("peer", configuration={"hnsw": {"space": "cosine"}})
    embed = HuggingFaceEmbedding(model_name=str(settings.resolved_model_path()), device="cpu")
    embed.get_text_embedding("warm-up")
    started = time.perf_counter()
    documents = SimpleDirectoryReader(str(corpus)).load_data()
    VectorStoreIndex.from_documents(
        documents,
        storage_context=StorageContext.from_defaults(vector_store=ChromaVectorStore(chroma_collection=collection)),
        embed_model=embed,
        transformations=[SentenceSplitter(chunk_size=settings.chunk_size, chunk_overlap=settings.chunk_overlap)],
    )
    seconds = time.perf_counter() - started
    return {"peer_chunks": collection.count(), "peer_chunks_per_s": round(collection.count() / seconds, 1)}
