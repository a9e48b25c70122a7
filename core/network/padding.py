"""PyTorch's ``padding="same"`` as plain zeros: one rule for the two places that need it.

The tiler (:mod:`parawire.models.tiling`) reads a "same" conv as a window with that many
zeros, and the exporter (:mod:`parawire.engines.fx_onnx`) writes it as explicit pads
(ONNX Runtime refuses "same" as ``auto_pad`` with a dilation). Its own module because
both sides must agree, and neither may import the other (the exporter pulls in
``onnx``, seconds of start-up the tiler's arithmetic does not need)."""

from __future__ import annotations

from collections.abc import Sequence


def same_padding(kernel: Sequence[int], dilation: Sequence[int]) -> tuple[int, ...] | None:
    """PyTorch's ``padding="same"`` (stride 1 only) as zeros on each side per axis, when
    it pads both sides alike: ``dilation·(kernel − 1)`` even, as for every odd kernel;
    None when it puts one zero more at the end, which one number per axis cannot say."""
    spans = [d * (k - 1) for d, k in zip(dilation, kernel)]
    return None if any(span % 2 for span in spans) else tuple(span // 2 for span in spans)
