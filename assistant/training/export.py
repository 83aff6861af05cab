"""Export: the fine-tuned model to ONNX (fp32) and its dynamic int8 copy, with the tokenizer."""

from __future__ import annotations

from pathlib import Path


def export(model, tokenizer, folder: Path, quantize: bool, outputs: tuple[str, ...] = ("logits",)) -> Path:
    """model.onnx (int8 weights when quantize) and tokenizer.json in folder; returns the fp32 export's path.
    ``outputs`` names the model's outputs: the span reader has start_logits and end_logits."""
    import shutil
    import tempfile
    import warnings

    import torch

    folder.mkdir(parents=True, exist_ok=True)
    # Eager attention exports as MatMul/Softmax, which onnxruntime fuses into one Attention kernel
    # (assistant/inference.py); SDPA's exported graph matches no fusion and reads ~20 % slower.
    model.set_attn_implementation("eager")
    fp32 = folder / "model.fp32.onnx"
    example = tokenizer(["a question"], ["a sentence"], return_tensors="pt")
    names = ["input_ids", "attention_mask", "token_type_ids"]
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model,
            tuple(example[name] for name in names),
            str(fp32),
            input_names=names,
            output_names=list(outputs),
            dynamic_axes={name: {0: "batch", 1: "tokens"} for name in names}
            | {name: {0: "batch"} if name == "logits" else {0: "batch", 1: "tokens"} for name in outputs},  # a pair, a token
            opset_version=17,
            dynamo=False,
        )
    with tempfile.TemporaryDirectory() as scratch:
        tokenizer.save_pretrained(scratch)
        shutil.copy(Path(scratch) / "tokenizer.json", folder / "tokenizer.json")
    if quantize:
        quantize_int8(fp32, folder / "model.onnx")
    else:
        shutil.copy(fp32, folder / "model.onnx")
    _describe_attention(folder / "model.onnx", model.config)
    return fp32


def _describe_attention(path: Path, config) -> None:
    """The attention's shape in the file's metadata: the fusion needs it (assistant/inference.py) and the graph
    only computes it at run time."""
    import onnx

    model = onnx.load(str(path))
    for key, value in (("attention_heads", config.num_attention_heads), ("hidden_size", config.hidden_size)):
        model.metadata_props.append(onnx.StringStringEntryProto(key=key, value=str(value)))
    onnx.save(model, str(path))


def quantize_int8(fp32: Path, target: Path) -> None:
    """Dynamic int8 with per-channel int8 weights (exact on every CPU as the reader loads it: assistant/inference.py)."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(str(fp32), str(target), weight_type=QuantType.QInt8, per_channel=True)


def recovered_model(folder: Path):
    """The PyTorch model behind a shipped reader's int8 ``model.onnx`` (its weights dequantized), for a
    re-export or as the start of a fine-tune (``python -m assistant.training.span --init assistant/models/span_reader``)."""
    import numpy as np
    import onnx
    import torch
    from onnx import numpy_helper
    from transformers import AutoModelForQuestionAnswering, AutoModelForSequenceClassification
    from transformers.utils import logging as transformers_logging

    from assistant.inference import dequantized_model
    from assistant.settings import bundled_model_path

    int8 = folder / "model.onnx"
    graph = onnx.load_from_string(dequantized_model(int8)).graph
    original = onnx.load(str(int8)).graph
    arrays = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    outputs = tuple(o.name for o in graph.output)
    state = {k: v for k, v in arrays.items() if k.endswith((".bias", "LayerNorm.weight"))}
    stored = {i.name: numpy_helper.to_array(i) for i in original.initializer}
    for name in [k for k in stored if k.endswith(".weight_quantized")]:  # the embeddings, int8 with one scale each
        base = name.removesuffix("_quantized")
        zero, scale = stored[base + "_zero_point"].astype(np.float32), stored[base + "_scale"]
        state[base] = (stored[name].astype(np.float32) - zero) * scale
    consumers = {name: node for node in graph.node for name in node.input}
    for node in graph.node:  # a Linear layer is MatMul(x, W^T) then Add(bias): the bias names the layer
        if node.op_type == "MatMul" and node.input[1] in arrays:
            (bias,) = [i for i in consumers[node.output[0]].input if i.endswith(".bias")]
            state[bias.removesuffix(".bias") + ".weight"] = arrays[node.input[1]].T
    base = str(bundled_model_path())
    transformers_logging.set_verbosity_error()  # the base's pooler and the new head reported as not loaded: both replaced
    if outputs == ("start_logits", "end_logits"):
        model = AutoModelForQuestionAnswering.from_pretrained(base)
    else:
        model = AutoModelForSequenceClassification.from_pretrained(base, num_labels=1)
    wanted = model.state_dict()
    assert set(state) >= set(wanted), f"weights not recovered: {sorted(set(wanted) - set(state))}"
    model.load_state_dict({k: torch.tensor(np.ascontiguousarray(state[k])) for k in wanted})
    model.eval()
    return model, outputs


def reexport(folder: Path) -> None:
    """A shipped reader's model.onnx exported again from its own int8 weights: the same integers and
    scales (checked), a graph of today's export (eager attention). Its tokenizer and calibration stay.
    For models exported before the export used eager attention, whose PyTorch weights are not kept:
    ``python -m assistant.training.export assistant/models/span_reader``."""
    import tempfile

    import onnx
    from transformers import AutoTokenizer

    from assistant.settings import bundled_model_path

    int8 = folder / "model.onnx"
    original = onnx.load(str(int8)).graph
    model, outputs = recovered_model(folder)
    tokenizer = AutoTokenizer.from_pretrained(str(bundled_model_path()))
    with tempfile.TemporaryDirectory() as scratch:
        export(model, tokenizer, Path(scratch), quantize=True, outputs=outputs)
        again = onnx.load(str(Path(scratch) / "model.onnx")).graph
        if _integers(again) != _integers(original):
            raise ValueError(f"re-exporting {int8} changed its int8 weights; kept the original")
        (Path(scratch) / "model.onnx").replace(int8)


def _integers(graph) -> list[bytes]:
    """A graph's int8 weights and their scales, in no particular order (names of MatMul weights are the export's own)."""
    from onnx import numpy_helper

    return sorted(numpy_helper.to_array(i).tobytes() for i in graph.initializer if i.name.endswith(("_quantized", "_scale")))


if __name__ == "__main__":
    import sys

    for argument in sys.argv[1:]:
        reexport(Path(argument))
        print(f"re-exported {argument}/model.onnx")
