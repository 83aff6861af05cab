import numpy as np

from assistant.settings import bundled_model_path


def test_onnx_export_matches_sentence_transformers(encoder):
    from sentence_transformers import SentenceTransformer

    texts = [
        "Within what distance of the shore can French officers intercept boats?",
        "Over 18,000 migrants have already crossed the Channel this year—a 40% increase.",
        "short",
        " ".join(["a long passage about the police union and the Channel"] * 40),  # past 256 pieces: truncated alike
    ]
    reference = SentenceTransformer(str(bundled_model_path()), device="cpu").encode(texts, normalize_embeddings=True)
    ours = encoder.encode(texts, batch_size=2)
    assert ours.shape == (4, 384)
    assert np.allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)
    assert (ours * reference).sum(axis=1).min() > 0.9999


def test_bulk_ingest_batches_match_the_query_vectors(encoder):
    from assistant.index.embedding import BULK_MIN_BATCH, Encoder
    from assistant.text_analysis import sentence_spans
    from tests.conftest import CORPUS

    sentences = []
    for path in sorted(CORPUS.glob("*.txt")):
        text = path.read_text(encoding="utf-8")
        sentences += [text[a:b] for a, b in sentence_spans(text)]
    texts = [f"{n}: {sentence}" for n, sentence in zip(range(BULK_MIN_BATCH), sentences * 20)]
    cache = encoder.onnx_file.parent
    bf16, fp32 = Encoder(bundled_model_path(), cache, precision="bf16"), Encoder(bundled_model_path(), cache, precision="fp32")
    ours, bulk_fp32, reference = bf16.encode(texts), fp32.encode(texts), fp32.encode(texts, bulk=False)
    assert bf16.bulk_precision == "bf16" and fp32.bulk_precision == "f32" and fp32._bulk_model is not None
    assert np.allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)
    assert (ours * reference).sum(axis=1).min() > 0.999
    assert (bulk_fp32 * reference).sum(axis=1).min() > 0.99999  # OpenVINO fp32 (ingest) and ONNX Runtime fp32 (queries)
