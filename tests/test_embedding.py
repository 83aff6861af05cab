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


def test_bf16_ingest_batches_match_the_fp32_vectors(encoder):
    from assistant.embedding import BF16_MIN_BATCH, Encoder
    from assistant.text import sentence_spans
    from tests.conftest import CORPUS

    sentences = []
    for path in sorted(CORPUS.glob("*.txt")):
        text = path.read_text(encoding="utf-8")
        sentences += [text[a:b] for a, b in sentence_spans(text)]
    texts = [f"{n}: {sentence}" for n, sentence in zip(range(BF16_MIN_BATCH), sentences * 20)]
    cache = encoder.onnx_file.parent
    bf16, fp32 = Encoder(bundled_model_path(), cache, precision="bf16"), Encoder(bundled_model_path(), cache, precision="fp32")
    ours, reference = bf16.encode(texts), fp32.encode(texts)
    assert bf16._bf16_model is not None and fp32._bf16_model is None  # each took the path it was asked for
    assert np.allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)
    assert (ours * reference).sum(axis=1).min() > 0.999
