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
    return fp32


def quantize_int8(fp32: Path, target: Path) -> None:
    """Dynamic int8 with per-channel int8 weights (exact on every CPU as the reader loads it: assistant/inference.py)."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(str(fp32), str(target), weight_type=QuantType.QInt8, per_channel=True)
