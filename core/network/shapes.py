"""Shapes through the DAG: staging, scaling blocks, and every vertex's tensor shape.

Pure Python and numpy, no torch: studies call this thousands of times a minute and the
torch module (``parawire.network.nn``) is built *from* the layout, so shapes are decided once,
here, and the module only follows them.

The rules (docs/network.md explains why):

* **Stem** (input vertex): a plain 3×3 conv (padding 1) from the image's channels to
  ``spec.base_channels``, stride 2 when the image's smaller side is at least
  :data:`STEM_STRIDE2_FROM` pixels (so 224-px nets start at 112 px, as in ResNet-like
  stems), stride 1 otherwise (CIFAR-sized inputs keep their 32 px).
* **Aggregation**: a vertex's inputs are brought to one shape: the *smallest* spatial
  size and the *largest* channel count among them (§3.2). Each input that differs gets
  a scaling block: a max-pool to the smallest spatial size and/or a 1×1 conv to the
  largest channel count. Scaling blocks belong to the consuming vertex.
* **Staging** (a vertex whose flag is set): its depthwise conv has stride 2 (spatial
  size ``ceil(H/2)``) and its pointwise conv doubles the channels, capped at
  ``spec.channel_cap``. Otherwise a block keeps its input's shape.
* **Output vertex**: aggregation, global average pooling, linear to ``spec.classes``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from parawire.graph.dag import Dag
from parawire.graph.spec import ArchitectureSpec

STEM_STRIDE2_FROM = 128
"""Images whose smaller side has at least this many pixels get a stride-2 stem."""

Shape = tuple[int, int, int]


@dataclass(frozen=True)
class Scaling:
    """How one input of a vertex is brought to the vertex's aggregation shape.

    ``pool_to`` is the (H, W) a max-pool reduces the input to (None: no pooling);
    ``channels`` is (C_in, C_out) of a bias-free 1×1 conv (None: no conv). The pool
    runs first, so the conv works on the smaller tensor.
    """

    pred: int
    pool_to: tuple[int, int] | None
    channels: tuple[int, int] | None


@dataclass(frozen=True, eq=False)
class Layout:
    """Every vertex's shapes, indexed by DAG vertex id ``0..N+1``.

    ``in_shape[v]`` is the shape after aggregation (what the conv block sees; for the
    stem, the image), ``out_shape[v]`` the block's output (for the output vertex:
    ``(classes, 1, 1)``). ``scaling[v]`` lists v's scaling blocks in ``dag.preds[v]``
    order, only for inputs that need one.
    """

    dag: Dag
    classes: int
    stem_stride: int
    in_shape: np.ndarray  # (V, 3) int64
    out_shape: np.ndarray  # (V, 3) int64
    staged: np.ndarray  # (V,) bool
    scaling: dict[int, tuple[Scaling, ...]]


def stem_stride(input_shape: Shape) -> int:
    return 2 if min(input_shape[1:]) >= STEM_STRIDE2_FROM else 1


def strided(size: int, stride: int) -> int:
    """Output size of a 3×3 conv with padding 1: ``ceil(size / stride)``."""
    return (size - 1) // stride + 1


def staged_channels(channels: int, cap: int) -> int:
    """Channels after a stage: doubled, never above the cap."""
    return min(2 * channels, cap)


def widest_channels(spec: ArchitectureSpec) -> int:
    """The most channels any vertex's output can have, whatever the DAG and its staging:
    the stem's, doubled at most ``nodes`` times and never above the cap."""
    return min(spec.channel_cap, spec.base_channels << min(spec.nodes, spec.channel_cap.bit_length()))


def largest_map(spec: ArchitectureSpec) -> int:
    """The most elements any computation vertex's output can have, whatever the DAG and
    its staging (the executor's memory bound before a graph is generated).

    Why this holds: by induction over the topological order, a vertex that sits behind
    ``s`` stages on its most-staged path has exactly ``min(cap, base·2^s)`` channels and
    the stem's map halved ``s`` times (aggregation takes the largest channels and the
    smallest map, both reached on that path). So every output is one of these ``nodes + 1``
    shapes, and the largest is found by walking ``s`` until the shape stops changing."""
    _, h, w = spec.input_shape
    stride = stem_stride(spec.input_shape)
    c, h, w = spec.base_channels, strided(h, stride), strided(w, stride)
    largest = c * h * w
    for _ in range(spec.nodes):
        staged = staged_channels(c, spec.channel_cap), strided(h, 2), strided(w, 2)
        if staged == (c, h, w):
            break
        c, h, w = staged
        largest = max(largest, c * h * w)
    return largest


def cap_stages(dag: Dag, spec: ArchitectureSpec, wish: Callable[[int], bool]) -> np.ndarray:
    """Stage flags for the computation vertices where ``wish(v)`` holds *and* the
    channels entering v are still below the cap.

    Only channels matter for the cap, so this walks channel counts alone (the cheap
    half of :func:`layout`). Staging policies call it so that "while below the cap"
    means the same thing for all of them. ``wish`` is asked only where staging is
    allowed, in topological order.
    """
    flags = np.zeros(dag.nodes + 2, dtype=bool)
    out = np.zeros(dag.nodes + 2, dtype=np.int64)
    out[dag.input] = spec.base_channels
    for v in dag.order:
        if v == dag.input:
            continue
        c = max(out[p] for p in dag.preds[v])
        if v != dag.output and c < spec.channel_cap and wish(v):
            flags[v] = True
            c = staged_channels(c, spec.channel_cap)
        out[v] = c
    return flags


def marked_stages(dag: Dag) -> np.ndarray | None:
    """Flags from the generator's own ``downsample=True`` marks (``fb``), or None.

    RandWire's stages are part of the ``fb`` architecture, so its marks replace the
    spec's staging policy; a DAG without marks returns None.
    """
    marks = dag.graph.nodes(data="downsample", default=False)
    flags = np.zeros(dag.nodes + 2, dtype=bool)
    for v, mark in marks:
        flags[v] = bool(mark) and v not in (dag.input, dag.output)
    return flags if flags.any() else None


def layout(spec: ArchitectureSpec, dag: Dag, staging_flags: np.ndarray) -> Layout:
    """Propagate shapes from the stem to the classifier.

    ``staging_flags`` (bool per vertex) are decided above this layer, by the staging
    policy (``parawire.pipeline.build.stage_flags``) or by hand; a set flag stages even
    at the cap (then only the spatial size halves), so hand-made tests can place
    stages freely.
    """
    flags = np.asarray(staging_flags, bool)
    if flags.shape != (dag.nodes + 2,):
        raise ValueError(f"staging flags need one entry per vertex ({dag.nodes + 2})")
    size = dag.nodes + 2
    in_shape = np.zeros((size, 3), dtype=np.int64)
    out_shape = np.zeros((size, 3), dtype=np.int64)
    scaling: dict[int, tuple[Scaling, ...]] = {}
    stride = stem_stride(spec.input_shape)
    _, h, w = spec.input_shape
    in_shape[dag.input] = spec.input_shape
    out_shape[dag.input] = (spec.base_channels, strided(h, stride), strided(w, stride))
    for v in dag.order:
        if v == dag.input:
            continue
        preds = dag.preds[v]
        shapes = out_shape[list(preds)]
        c, h, w = int(shapes[:, 0].max()), int(shapes[:, 1].min()), int(shapes[:, 2].min())
        in_shape[v] = (c, h, w)
        blocks = tuple(
            Scaling(
                pred=p,
                pool_to=None if (ph, pw) == (h, w) else (h, w),
                channels=None if pc == c else (int(pc), c),
            )
            for p, (pc, ph, pw) in zip(preds, shapes)
            if (pc, ph, pw) != (c, h, w)
        )
        if blocks:
            scaling[v] = blocks
        if v == dag.output:
            out_shape[v] = (spec.classes, 1, 1)
        elif flags[v]:
            out_shape[v] = (staged_channels(c, spec.channel_cap), strided(h, 2), strided(w, 2))
        else:
            out_shape[v] = (c, h, w)
    flags = flags.copy()
    flags[[dag.input, dag.output]] = False
    return Layout(
        dag=dag,
        classes=spec.classes,
        stem_stride=stride,
        in_shape=in_shape,
        out_shape=out_shape,
        staged=flags,
        scaling=scaling,
    )
