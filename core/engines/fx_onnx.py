"""ONNX Runtime sessions for arbitrary torch modules: the blocks and fused segments of an
imported model (:mod:`parawire.models.onnx`), and a whole imported model in one process.

Parawire's own networks are written node by node (:mod:`parawire.engines.onnx_graph`);
an imported model can hold any operator, so its fx sub-graphs go through torch's
exporter, on the worker, from the weights it loaded: no model file travels. The
TorchScript-based exporter (``dynamo=False``), because it needs no further package
(the torch.export-based one requires ``onnxscript``) and exports a block in
milliseconds where the other re-traces through the dispatcher. Shapes are fixed to the
example inputs (one image, the batch every run sends).
"""

from __future__ import annotations

import contextlib
import io
import threading
import warnings
from collections.abc import Sequence

import torch
from parawire.engines.onnx_graph import OPSET
from parawire.engines.ort import Session
from parawire.network.padding import same_padding

EXPORTING = threading.Lock()
"""The exporter's global state is not thread-safe, and in-process workers (threads)
deploy at once: one export at a time in this process."""


def export_session(module: torch.nn.Module, inputs: Sequence[torch.Tensor], threads: int | None = None,
                   batch: bool = False) -> Session:
    """``module`` exported for ``inputs`` and loaded in one ORT session; raises what the
    exporter or ONNX Runtime raises (an operator without an ONNX form). ``batch``: the
    first dimension of every input and output stays free (a module that treats images
    independently, such as a tile stack, called with any batch).

    Traced with autograd on: in eval mode without it, ``nn.MultiheadAttention`` and the
    transformer layers take their fused fast path (``_native_multi_head_attention``),
    which has no ONNX form; with it they take the plain path, same values. Exports in
    one process run one at a time (:data:`EXPORTING`)."""
    import onnx

    buffer = io.BytesIO()
    quiet = io.StringIO()
    with EXPORTING, warnings.catch_warnings(), torch.enable_grad(), contextlib.redirect_stdout(quiet), \
            contextlib.redirect_stderr(quiet):
        warnings.simplefilter("ignore")  # the exporter's deprecation and tracer notes
        names = [f"in{i}" for i in range(len(inputs))]
        free = {name: {0: "batch"} for name in names} if batch else None
        with explicit_padding(module):
            torch.onnx.export(module, tuple(inputs), buffer, dynamo=False, opset_version=OPSET,
                              input_names=names, do_constant_folding=True, dynamic_axes=free)
    session = Session(onnx.load_from_string(buffer.getvalue()), threads)
    # the exporter drops an input no output's value depends on (one read for its shape
    # only, as ``F.interpolate(y, size=x.shape[-2:])``; shapes are fixed here): the
    # session takes the others from the caller's list
    session.positions = [names.index(name) for name in session.inputs]
    return session


@contextlib.contextmanager
def explicit_padding(module: torch.nn.Module):
    """Every convolution of ``module`` with ``padding="same"`` that pads both sides alike
    (an odd ``dilation·(kernel − 1)``: every odd kernel) holds that padding as numbers
    while inside: the same zeros, the same values. Why: the exporter writes "same" as
    ONNX's ``auto_pad``, which ONNX Runtime refuses with a dilation ("Dilation not
    supported for AutoPadType::SAME_UPPER"), at the first inference; explicit pads it
    runs. Uneven ones (one zero more at the end) stay as they are."""
    changed = []
    for conv in module.modules():
        if isinstance(conv, torch.nn.modules.conv._ConvNd) and conv.padding == "same":
            even = same_padding(conv.kernel_size, conv.dilation)
            if even is not None:
                changed.append(conv)
                conv.padding = even
    try:
        yield module
    finally:
        for conv in changed:
            conv.padding = "same"
