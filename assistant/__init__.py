"""Corpus assistant: offline question answering over your documents, every citation checked.

The packages follow the data:

- ``ingest/``: files -> text (loaders), passages with exact spans (chunking), the incremental,
  crash-safe pipeline, and the checks on uploads;
- ``index/``: what an index holds (catalog, vectors in Chroma, BM25) and the embedding model;
- ``retrieval.py``: dense and BM25 candidates, fused;
- ``answering/``: the reader and its calibration, the extractive and generative answerers, the
  answer and its citations, verification of generated text;
- ``server/``: the chat page, the OpenAI-compatible API, the launcher (``assistant serve``);
- ``facade.py``: ``Assistant``, the one object the CLI, the server and the evaluators call;
- ``evaluation/``: answer quality on gold sets, retrieval on BEIR data;
- ``training/`` and ``bench/``: the reader's recipe and the benchmark (never imported by the runtime).

Settings live in ``settings.py``; how models run on this CPU in ``inference.py``.
"""
