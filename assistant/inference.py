"""How the models run on this CPU: ONNX Runtime sessions, and the instruction sets that change speed or arithmetic.

The same model must give the same answers on every x86-64 CPU (README, "Same answers on every
CPU"): the reader's int8 weights are run in fp32 (``reader_model_for_every_cpu``), and
tests/test_reference.py checks the outputs of both models against references stored in the repository.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path


def onnx_session(model: Path | bytes, threads: int = 0):
    """An ONNX Runtime CPU session whose idle threads sleep instead of spinning.

    A process holds two sessions (encoder and reader) on a few cores: with ORT's default spinning,
    one session's idle threads steal the cores the other is computing on (10k-chunk warm `ask`
    p50 65-90 ms with spinning, 42-49 ms without, same machine and run; README, benchmark).
    """
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.log_severity_level = 3
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    source = model if isinstance(model, bytes) else str(model)
    return onnxruntime.InferenceSession(source, options, providers=["CPUExecutionProvider"])


@lru_cache(maxsize=1)
def cpu_flags() -> frozenset[str]:
    try:
        return frozenset(Path("/proc/cpuinfo").read_text().split())
    except OSError:
        return frozenset()


def cpu_has_native_bf16() -> bool:
    """Whether this CPU computes bfloat16 natively; emulated bf16 is slower than fp32."""
    return bool({"avx512_bf16", "amx_bf16"} & cpu_flags())


def cpu_description() -> str:
    """The CPU's model and the instruction sets the models' speed and arithmetic depend on (figures and test failures name it)."""
    import platform
    import re

    try:
        model = re.search(r"model name\s*:\s*(.+)", Path("/proc/cpuinfo").read_text()).group(1).strip()
    except (OSError, AttributeError):
        model = platform.processor() or platform.machine()
    wanted = ("avx2", "avx512f", "avx512_vnni", "avx512_bf16", "avx_vnni", "amx_tile", "amx_int8", "amx_bf16")
    flags = [flag for flag in wanted if flag in cpu_flags()]
    return f"{model}, {os.cpu_count()} cores, " + (" ".join(flags) or "no AVX2/AVX-512/AMX")


def reader_model_for_every_cpu(model_file: Path, cache_dir: Path | None = None) -> Path | bytes:
    """The int8 reader with its weights dequantized to fp32, its activations left in fp32, and its
    attention and layer-norm blocks fused into ONNX Runtime's kernels.

    Dynamic int8 quantises each activation tensor with a scale taken from its own minimum and
    maximum, which turns the last-bit differences between CPUs' fp32 kernels into different
    integers: measured on an AVX-512/VNNI CPU against an AVX2 one, logits up to 0.17 apart (28 of
    363 reference pairs beyond 0.02), and a sentence's logit depended on the others in its batch.
    In fp32 every CPU agrees to ~1e-5 (docs/same-answers-on-every-cpu.md). The weights are the
    int8 file's own integers times their scales, so the model in the repository stays 23 MB; the
    fp32 form (~55 MB) is made once (a few seconds) and kept in cache_dir, keyed by the file's size
    and modification time.
    """
    if cache_dir is None:
        return _fused(dequantized_model(model_file))
    stat = model_file.stat()
    cached = cache_dir / f"{FORM}-{stat.st_size}-{stat.st_mtime_ns}.onnx"
    if not cached.is_file():
        cache_dir.mkdir(parents=True, exist_ok=True)
        partial = cached.with_suffix(f".{os.getpid()}.partial")
        partial.write_bytes(_fused(dequantized_model(model_file)))
        partial.replace(cached)  # atomic: another process never loads half a model
        for stale in cache_dir.glob("*.onnx"):  # an earlier model's form, or a form earlier versions ran
            if stale != cached and stale.name.startswith(("fp32-", "uint8-")):
                stale.unlink(missing_ok=True)
    return cached


FORM = "fp32-fused"  # the cached form's name; forms of other names (earlier versions' forms) are replaced


def _fused(model: bytes) -> bytes:
    """Attention, skip + layer norm and bias + GELU as ONNX Runtime's fused CPU kernels (onnxruntime.transformers).

    The same fp32 arithmetic in fewer passes over memory: logits within ~1e-5 of the plain graph,
    reading ~15-20 % faster (docs/same-answers-on-every-cpu.md). Attention is fused only in models exported
    with eager attention and their shape in the metadata (training/export.py). Only the library's
    pattern fusions (opt_level 0), none of ONNX Runtime's CPU-specific rewrites, so the form is the
    same file on every CPU. A fused form that does not compute what the plain one does on a probe
    input is not used."""
    import logging

    import numpy as np
    import onnx
    from onnxruntime.transformers.optimizer import optimize_model

    plain = onnx.load_from_string(model)
    shape = {entry.key: int(entry.value) for entry in plain.metadata_props if entry.key in ("attention_heads", "hidden_size")}
    logging.getLogger("onnxruntime.transformers").setLevel(logging.ERROR)  # "producer not matched": it is onnx.quantize
    fused = optimize_model(
        plain, model_type="bert", num_heads=shape.get("attention_heads", 0), hidden_size=shape.get("hidden_size", 0),
        opt_level=0, use_gpu=False,
    ).model.SerializeToString()  # fmt: skip
    ids = np.array([[101, 2129, 2172, 102, 1996, 3462, 2001, 3156, 102], [101, 2040, 102, 2002, 102, 0, 0, 0, 0]])
    probe = {"input_ids": ids, "attention_mask": (ids > 0).astype(np.int64), "token_type_ids": np.zeros_like(ids)}
    outputs = []
    for form in (model, fused):
        session = onnx_session(form, threads=1)
        outputs.append(session.run(None, {i.name: probe[i.name] for i in session.get_inputs()}))
    real = probe["attention_mask"].astype(bool)
    for ours, theirs in zip(*outputs):
        per_token = ours.shape == real.shape  # a span model's logits; padding's own are meaningless
        if not np.allclose(ours[real] if per_token else ours, theirs[real] if per_token else theirs, atol=1e-3):
            return model
    return fused


def dequantized_model(model_file: Path) -> bytes:
    """The int8 model as a plain fp32 ONNX graph: what the fused form computes, in standard operators other runtimes read.

    Each DynamicQuantizeLinear -> MatMulInteger -> Cast -> Mul(scales) chain becomes MatMul(x, (w - zero) * scale).
    Written here because onnxruntime's quantisation tools only go the other way."""
    import numpy as np
    import onnx
    from onnx import helper, numpy_helper

    model = onnx.load(str(model_file))
    graph = model.graph
    initializers = {i.name: i for i in graph.initializer}
    producer = {output: node for node in graph.node for output in node.output}
    consumers: dict[str, list] = {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    replaced, dropped, weights = {}, set(), []
    for node in graph.node:
        if node.op_type != "MatMulInteger":
            continue
        activations, weight, _, weight_zero = node.input
        (cast,) = consumers[node.output[0]]
        (rescale,) = consumers[cast.output[0]]
        scales = producer[rescale.input[1]]  # Mul(activation scale, weight scale)
        array = lambda name: numpy_helper.to_array(initializers[name]).astype(np.float32)  # noqa: E731
        dequantized = (array(weight) - array(weight_zero)) * array(scales.input[1])
        weights.append(numpy_helper.from_array(dequantized, weight + "_fp32"))
        source = producer[activations].input[0]  # the fp32 input of DynamicQuantizeLinear
        replaced[id(node)] = helper.make_node("MatMul", [source, weight + "_fp32"], [rescale.output[0]], name=node.name)
        dropped |= {id(cast), id(rescale), id(scales)}
    nodes = [replaced.get(id(node), node) for node in graph.node if id(node) not in dropped]
    used = {name for node in nodes for name in node.input}
    nodes = [n for n in nodes if n.op_type != "DynamicQuantizeLinear" or any(o in used for o in n.output)]
    used = {name for node in nodes for name in node.input}
    kept = [i for i in graph.initializer if i.name in used] + weights
    del graph.node[:]
    graph.node.extend(nodes)
    del graph.initializer[:]
    graph.initializer.extend(kept)
    return model.SerializeToString()
