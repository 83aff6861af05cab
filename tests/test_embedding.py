import json
import shutil
import subprocess
import sys

import numpy as np

from assistant.index.embedding import Encoder
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


def test_every_index_on_a_machine_shares_one_encoder_export(tmp_path, encoder):
    from assistant.settings import Settings

    cache = tmp_path / "cache"
    first = Encoder.for_settings(Settings(index_dir=tmp_path / "a", encoder_cache=cache))
    second = Encoder.for_settings(Settings(index_dir=tmp_path / "b", encoder_cache=cache))
    assert first.onnx_file == second.onnx_file == cache / f"{encoder.fingerprint}.onnx"
    encoder.load()  # the session's export, made here if no test needed it yet
    legacy = tmp_path / "old" / "encoder"  # an index that made its own export before keeps it
    legacy.mkdir(parents=True)
    shutil.copy(encoder.onnx_file, legacy)
    assert Encoder.for_settings(Settings(index_dir=tmp_path / "old", encoder_cache=cache)).onnx_file.parent == legacy


def test_two_processes_building_the_shared_export_at_once_leave_one_whole_model(tmp_path, encoder):
    cache = tmp_path / "cache"
    code = (
        "import sys; from pathlib import Path; from assistant.index.embedding import Encoder; "
        "from assistant.settings import bundled_model_path; "
        "e = Encoder(bundled_model_path(), Path(sys.argv[1])); print(e.encode(['The boats left at dawn.'])[0][:4].tolist())"
    )
    processes = [
        subprocess.Popen([sys.executable, "-c", code, str(cache)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    outputs = [process.communicate(timeout=600) for process in processes]
    assert all(process.returncode == 0 for process in processes), [err for _, err in outputs]
    assert sorted(path.name for path in cache.iterdir()) == [f"{encoder.fingerprint}.onnx"]  # no partial file left
    want = encoder.encode(["The boats left at dawn."])[0][:4]
    for out, _ in outputs:
        assert np.allclose(json.loads(out), want, atol=1e-5)
