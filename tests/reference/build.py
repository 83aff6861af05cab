"""Write the reference outputs that tests/test_reference.py checks the shipped models against.

Run once after the reader or the embedding model changes: ``python -m tests.reference.build``.

- reader_logits.json: the reader's logit for fixed (question, sentence) pairs, computed with every
  MatMulInteger of the int8 model replaced by the same integer product in double precision: what
  a CPU computes when its int8 products are exact (VNNI, AMX; elsewhere the reader's uint8 form).
- encoder_vectors.json: sentence-transformers' own fp32 vectors (torch) for fixed texts, an
  implementation independent of the ONNX export the assistant runs.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

import numpy as np

from assistant.answering.reader import MODEL_FILE, READER_DIR, Reader
from assistant.text_analysis import sentence_spans, terms

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
READER_REFERENCE = HERE / "reader_logits.json"
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


def exact_integer_model(source: Path, target: Path) -> None:
    """A copy of an int8 ONNX model whose integer matrix products are computed exactly, in double."""
    import onnx
    from onnx import TensorProto, helper

    model = onnx.load(str(source))
    nodes = list(model.graph.node)
    del model.graph.node[:]
    for node in nodes:
        if node.op_type != "MatMulInteger":
            model.graph.node.append(node)
            continue
        a, b, a_zero, b_zero = node.input
        p = node.output[0] + "_exact"
        model.graph.node.extend(
            [
                helper.make_node("Cast", [a], [p + "_a"], to=TensorProto.DOUBLE),
                helper.make_node("Cast", [a_zero], [p + "_az"], to=TensorProto.DOUBLE),
                helper.make_node("Sub", [p + "_a", p + "_az"], [p + "_a0"]),
                helper.make_node("Cast", [b], [p + "_b"], to=TensorProto.DOUBLE),
                helper.make_node("Cast", [b_zero], [p + "_bz"], to=TensorProto.DOUBLE),
                helper.make_node("Sub", [p + "_b", p + "_bz"], [p + "_b0"]),
                helper.make_node("MatMul", [p + "_a0", p + "_b0"], [p + "_product"]),
                helper.make_node("Cast", [p + "_product"], [node.output[0]], to=TensorProto.INT32),
            ]
        )
    onnx.save(model, str(target))


def build_reader_reference() -> None:
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        for file in READER_DIR.iterdir():
            if file.is_file() and file.name != MODEL_FILE:
                shutil.copy(file, folder / file.name)
        exact_integer_model(READER_DIR / MODEL_FILE, folder / MODEL_FILE)
        reader = Reader(folder)
        rows = [
            {"question": q, "sentences": s, "logits": [round(float(x), 5) for x in reader.score(q, s)]} for q, s in reader_pairs()
        ]
    groups = ",\n".join(json.dumps(row, ensure_ascii=False) for row in rows)  # a question a line
    READER_REFERENCE.write_text(f'{{"model_bytes": {(READER_DIR / MODEL_FILE).stat().st_size}, "groups": [\n{groups}\n]}}\n')


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
    build_encoder_reference()
    print(f"wrote {READER_REFERENCE.relative_to(ROOT)} and {ENCODER_REFERENCE.relative_to(ROOT)}")
