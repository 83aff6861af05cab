"""Comparing two answers as a user reads them: the words exactly, the numbers within a measured tolerance.

Outcome, text, citations and their characters, ``answer_span`` and the order of the retrieved chunks
must be identical. Numbers (confidence, support, fused and dense scores, reader scores) may differ in
their last bits between CPUs and between embedded and server mode: the span reader's scores moved by
at most 1.4e-5 and query vectors by a cosine of 1e-5 between the machines measured
(docs/same-answers-on-every-cpu.md), and a fused score was seen 1e-5 apart (0.79246 / 0.79247) on an
AVX2 machine. The JSON rounds them to 3-5 decimals, so one unit of the coarsest rounding (1e-3) can
flip on a last-bit difference: NUMBER_TOLERANCE is that unit plus the measured spread, with room.
"""

from __future__ import annotations

import math

NUMBER_TOLERANCE = 2e-3


def differences(ours, theirs, path: str = "$") -> list[str]:
    """Where two answer JSONs differ beyond the tolerance; strings, ints, bools and None must be equal."""
    if isinstance(ours, float) or isinstance(theirs, float):
        if isinstance(ours, bool | str | None) or isinstance(theirs, bool | str | None):
            return [f"{path}: {ours!r} != {theirs!r}"]
        if math.isclose(float(ours), float(theirs), rel_tol=0.0, abs_tol=NUMBER_TOLERANCE):
            return []
        return [f"{path}: {ours!r} != {theirs!r} (tolerance {NUMBER_TOLERANCE})"]
    if isinstance(ours, dict) and isinstance(theirs, dict):
        if ours.keys() != theirs.keys():
            return [f"{path}: keys {sorted(ours)} != {sorted(theirs)}"]
        return [d for key in ours for d in differences(ours[key], theirs[key], f"{path}.{key}")]
    if isinstance(ours, list) and isinstance(theirs, list):
        if len(ours) != len(theirs):
            return [f"{path}: {len(ours)} items != {len(theirs)}"]
        return [d for n, (a, b) in enumerate(zip(ours, theirs)) for d in differences(a, b, f"{path}[{n}]")]
    return [] if ours == theirs else [f"{path}: {ours!r} != {theirs!r}"]


def assert_same_answer(ours: dict, theirs: dict, question: str = "") -> None:
    """The two ``Answer.to_json()`` (timings left out) say the same thing, numbers within NUMBER_TOLERANCE."""
    ours, theirs = dict(ours), dict(theirs)
    ours.pop("timings", None), theirs.pop("timings", None)
    found = differences(ours, theirs)
    assert not found, f"{question!r}: " + "; ".join(found[:5])
