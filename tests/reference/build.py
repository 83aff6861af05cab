"""Write the reference outputs that tests/test_reference.py checks the shipped models against.

Run once after the reader or the embedding model changes: ``python -m tests.reference.build``.

- reader_logits.json: the reader's logit for fixed (question, sentence) pairs, as the assistant
  computes it (the int8 weights in fp32, assistant/inference.py); the CPU that wrote it is named
  in docs/same-answers-on-every-cpu.md, and tests/test_reference.py also checks it against
  OpenVINO's implementation of the same graph (other kernels, other summation orders).
- span_scores.json: the span reader's best span (characters, score) and no-answer score for each
  seed question against a passage of four corpus sentences, as the assistant computes them.
- encoder_vectors.json: sentence-transformers' own fp32 vectors (torch) for fixed texts, an
  implementation independent of the ONNX export the assistant runs.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from assistant.answering.model_files import MODEL_FILE, READER_DIR
from assistant.answering.reader import Reader
from assistant.answering.span_reader import SPAN_READER_DIR, SpanReader
from assistant.text_analysis import sentence_spans, terms

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
READER_REFERENCE = HERE / "reader_logits.json"
SPAN_REFERENCE = HERE / "span_scores.json"
ENCODER_REFERENCE = HERE / "encoder_vectors.json"
SENTENCES_PER_QUESTION = 4


def corpus_sentences() -> list[str]:
    sentences = []
    for path in sorted((ROOT / "corpus").glob("*.txt")):
        text = path.read_text(encoding="utf-8")
        sentences += [text[a:b] for a, b in sentence_spans(text)]
    return sentences


def seed_questions() -> list[str]:
    lines = (ROOT / "tests" / "evalsets" / "seed.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line)["question"] for line in lines if line.strip()]


def reader_pairs() -> list[tuple[str, list[str]]]:
    """Each seed question with the two sentences sharing most terms with it and two fixed others:
    high and low logits alike, in the groups the reader scores them in."""
    sentences = corpus_sentences()
    sentence_terms = [set(terms(s)) for s in sentences]
    groups = []
    for i, question in enumerate(seed_questions()):
        wanted = set(terms(question))
        by_overlap = sorted(range(len(sentences)), key=lambda k: (-len(wanted & sentence_terms[k]), k))
        fixed = ((i * 7) % len(sentences), (i * 13 + 5) % len(sentences))
        chosen = by_overlap[:2] + [k for k in fixed if k not in by_overlap[:2]]
        groups.append((question, [sentences[k] for k in chosen[:SENTENCES_PER_QUESTION]]))
    return groups


def encoder_texts() -> list[str]:
    return (
        seed_questions()[:20]
        + corpus_sentences()[:20]
        + ["short", "£500 million", "Où est la préfecture de police ?", " ".join(["the police union and the Channel"] * 60)]
    )


def build_reader_reference() -> None:
    reader = Reader()
    rows = [
        {"question": q, "sentences": s, "logits": [round(float(x), 5) for x in reader.score(q, s)]} for q, s in reader_pairs()
    ]
    groups = ",\n".join(json.dumps(row, ensure_ascii=False) for row in rows)  # a question a line
    READER_REFERENCE.write_text(f'{{"model_bytes": {(READER_DIR / MODEL_FILE).stat().st_size}, "groups": [\n{groups}\n]}}\n')


def span_passages() -> list[tuple[str, str]]:
    """Each seed question with the sentences of its reader group as one passage."""
    return [(question, " ".join(sentences)) for question, sentences in reader_pairs()]


def build_span_reference() -> None:
    reader = SpanReader()
    rows = []
    for question, passage in span_passages():
        (reading,) = reader.read(question, [passage])
        span = reading.best_span()
        rows.append({
            "question": question, "passage": passage, "start": span.start, "end": span.end,
            "score": round(span.score, 5), "no_answer": round(reading.no_answer, 5),
        })  # fmt: skip
    lines = ",\n".join(json.dumps(row, ensure_ascii=False) for row in rows)  # a question a line
    SPAN_REFERENCE.write_text(f'{{"model_bytes": {(SPAN_READER_DIR / MODEL_FILE).stat().st_size}, "rows": [\n{lines}\n]}}\n')


def build_encoder_reference() -> None:
    from sentence_transformers import SentenceTransformer

    from assistant.settings import bundled_model_path

    texts = encoder_texts()
    vectors = SentenceTransformer(str(bundled_model_path()), device="cpu").encode(texts, normalize_embeddings=True)
    rows = [{"text": t, "vector": [round(float(x), 7) for x in v]} for t, v in zip(texts, np.asarray(vectors))]
    lines = ",\n".join(json.dumps(row, ensure_ascii=False) for row in rows)  # a text a line
    ENCODER_REFERENCE.write_text(f"[\n{lines}\n]\n")


if __name__ == "__main__":
    build_reader_reference()
    build_span_reference()
    build_encoder_reference()
    print(f"wrote {', '.join(str(p.relative_to(ROOT)) for p in (READER_REFERENCE, SPAN_REFERENCE, ENCODER_REFERENCE))}")
