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
