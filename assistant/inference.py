"""How the models run on this CPU: ONNX Runtime sessions, and the instruction sets that change speed or arithmetic.

The same model must give the same answers on every x86-64 CPU (README, "Same answers on every
CPU"): the reader's int8 weights are given to ONNX Runtime in the form whose integer products are
exact on this CPU (``int8_model_for_this_cpu``), and tests/test_reference.py checks the outputs of
both models against references stored in the repository.
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


def cpu_computes_int8_exactly() -> bool:
    """Whether ONNX Runtime's uint8 x int8 products are exact here: with VNNI (or AMX) they are; with AVX2
    alone (or AVX-512 without VNNI) pairs of products are summed in 16 bits first and can saturate."""
    return bool({"avx512_vnni", "avx_vnni", "amx_int8"} & cpu_flags())


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


def int8_model_for_this_cpu(model_file: Path, cache_dir: Path | None = None, exact_natively: bool | None = None) -> Path | bytes:
    """The dynamic-int8 model as this CPU computes it exactly: the file itself where int8 products are exact,
    else the same model with each int8 weight w stored as the uint8 w + 128 with zero point 128.

    Both forms hold the same integers, so ONNX Runtime computes the same products; its uint8 x uint8
    kernels never saturate (measured on AVX2: logits equal to the exact integer reference, against up
    to 1.0 apart with the int8 weights; ~10% slower than the saturating kernel). Making the uint8 form
    costs ~1.5 s (importing onnx is most of it), so it is kept in cache_dir, keyed by the file's size and
    modification time (a stat, not a read of its 23 MB on every start).
    """
    if cpu_computes_int8_exactly() if exact_natively is None else exact_natively:
        return model_file
    if cache_dir is None:
        return _uint8_form(model_file)
    stat = model_file.stat()
    cached = cache_dir / f"uint8-{stat.st_size}-{stat.st_mtime_ns}.onnx"
    if not cached.is_file():
        cache_dir.mkdir(parents=True, exist_ok=True)
        partial = cached.with_suffix(f".{os.getpid()}.partial")
        partial.write_bytes(_uint8_form(model_file))
        partial.replace(cached)  # atomic: another process never loads half a model
    return cached


def _uint8_form(model_file: Path) -> bytes:
    import numpy as np
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(model_file))
    initializers = {i.name: i for i in model.graph.initializer}
    for node in model.graph.node:
        if node.op_type != "MatMulInteger":
            continue
        for name in (node.input[1], node.input[3]):  # the weights and their zero points
            values = numpy_helper.to_array(initializers[name])
            if values.dtype == np.int8:
                initializers[name].CopyFrom(numpy_helper.from_array((values.astype(np.int16) + 128).astype(np.uint8), name))
    return model.SerializeToString()
