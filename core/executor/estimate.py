"""A deployment's memory, estimated before anything is generated or built.

Why a module of its own: generating a spec's graph is the expensive step of a
deployment (a 5,000-vertex ``dp`` spec: seconds of CPU and hundreds of MiB), so a worker
must know that a deployment is over its ``--max-deploy-bytes`` *before* that step, from
the ``DEPLOY`` message alone. Three estimates, from cheapest to tightest:

* :func:`bound_bytes`, from the spec's numbers and the unit's plan alone (no DAG, no
  plugin): every vertex at the widest channel count, every output at the largest map
  the spec allows (:func:`~parawire.network.shapes.largest_map`). Linear in the unit's
  vertices and their inputs; an upper bound of the other two.
* :func:`planned_bytes`, from the DAG the plan carries (every vertex's inputs) and the
  spec's staging policy: the exact estimate if the plan is the spec's, without running
  the generator (a tiled plan carries its prefix's edges in ``tiling.preds``).
* :func:`unit_bytes` of the generated architecture, after the build has checked that
  the plan matches it (the worker's builder does that).

:func:`early_bytes` is what a worker charges first: the bound when it fits, the plan's
DAG only when the bound alone would refuse (so no deployment that fits is refused for a
loose bound: a tiled prefix's bound counts every tiled vertex with every other as a
scaled input, gigabytes at 224 px).
"""

from __future__ import annotations

from typing import Any

from parawire.errors import ParawireError
from parawire.executor.deployment import DeploymentError
from parawire.executor.plan import Plan, UnitPlan
from parawire.executor.protocol import SOURCE
from parawire.executor.tiles import graph_part, tiled_vertices_of
from parawire.graph.spec import ArchitectureSpec
from parawire.network.cost import FLOAT32_BYTES
from parawire.network.shapes import largest_map, widest_channels
from parawire.score.hypergraph import image_bytes


def early_bytes(spec: dict[str, Any], plan: Plan, unit: UnitPlan, limit: int) -> int:
    """The unit's estimated memory, from the message alone: at most ``limit`` when it
    fits (cheap), else the tightest estimate available before generation."""
    parsed = ArchitectureSpec.parse(spec, source="deployment spec")
    n = plan.tiling.first_piece if plan.tiling is not None else len(plan.partition)
    if n != parsed.nodes + 2:
        raise DeploymentError(f"plan.partition: {n} vertices, but the spec describes {parsed.nodes + 2}"
                              f" (nodes {parsed.nodes} + input + output); rebuild the plan from this spec")
    bound = bound_bytes(parsed, unit)
    if bound <= limit:
        return bound
    return planned_bytes(parsed, plan, unit)


def bound_bytes(spec: ArchitectureSpec, unit: UnitPlan) -> int:
    """An upper bound of :func:`unit_bytes` from the spec's numbers and the unit's plan:
    float32 parameters of every vertex it computes at the widest channel count (each
    input with a 1×1 scaling conv), one largest map per computed output and per received
    input. A tiled vertex's inputs are not in the plan: at most every other tiled vertex."""
    c, k = widest_channels(spec), spec.classes
    c0, h, w = spec.input_shape
    stem = 9 * c0 * spec.base_channels + 2 * spec.base_channels
    block = max(9 * c + c * c + 2 * c, c * k + k)  # a separable block or the classifier

    def params(inputs: int) -> int:
        return inputs * (1 + c * c) + block

    base, tiled = graph_part(unit), tiled_vertices_of(unit)
    total = sum(stem if base.preds[v] == [SOURCE] else params(len(base.preds[v])) for v in base.vertices)
    total += len(tiled) * max(stem, params(len(tiled) - 1))
    out = max(largest_map(spec), k)
    preds = {p for v in base.vertices for p in base.preds[v]} - {SOURCE}
    image = c0 * h * w if tiled or any(base.preds[v] == [SOURCE] for v in base.vertices) else 0
    return FLOAT32_BYTES * (total + out * (len(base.vertices) + len(tiled) + len(preds)) + image)


def planned_bytes(spec: ArchitectureSpec, plan: Plan, unit: UnitPlan) -> int:
    """:func:`unit_bytes` of the plan's own DAG with the spec's staging policy. Exact for
    an honest plan, except for a generator that marks its own stages (``fb``): its marks
    exist only once it has run, so the policy's stand in for them here (the estimate
    after generation is exact again). A plan whose DAG is not the spec's is refused after
    generation anyway, so a lie here gains nothing over an honest spec that fits."""
    import networkx as nx
    from parawire.graph.dag import Dag
    from parawire.network.architecture import assemble
    from parawire.pipeline.build import stage_flags

    t = plan.tiling
    n = len(plan.partition) if t is None else t.first_piece
    tiled = set() if t is None else set(t.tiled)
    graph = nx.DiGraph()
    graph.add_nodes_from(range(n))
    graph.add_edges_from((p, v) for up in plan.unit_plans for v, ps in up.preds.items()
                         if v < n and v not in tiled for p in ps if p != SOURCE)
    # one input vertex, however many units run it (the "scatter" input policy replicates it)
    inputs = {v for up in plan.unit_plans for v, ps in up.preds.items() if ps == [SOURCE] and v < n}
    if t is not None:  # the prefix's edges, and its first vertex the input
        graph.add_edges_from((p, v) for v, ps in t.preds.items() for p in ps)
        inputs = {t.tiled[0]} if t.tiled else set()
    if graph.number_of_nodes() != n or any(p >= n or v >= n for p, v in graph.edges):
        raise DeploymentError("plan: an edge names a vertex past the DAG; rebuild the plan")
    if len(inputs) != 1 or not nx.is_directed_acyclic_graph(graph):
        raise DeploymentError("plan: needs exactly one input vertex and no cycle; rebuild the plan")
    dag = Dag(graph, inputs.pop(), plan.output_vertex)
    return unit_bytes(assemble(spec, dag, stage_flags(spec, dag)), unit)


def unit_bytes(arch, unit: UnitPlan) -> int:
    """Float32 parameters of the unit's vertices plus one request's activations (every
    local output and every received input kept at once: an upper bound)."""
    base = graph_part(unit)
    computed = [*base.vertices, *tiled_vertices_of(unit)]  # a tile unit holds whole maps at most
    params = sum(int(arch.costs.params[v]) for v in computed) * FLOAT32_BYTES
    outs = arch.costs.out_bytes
    c0, h, w = arch.spec.input_shape
    preds = {p for v in base.vertices for p in base.preds[v]} | ({SOURCE} if tiled_vertices_of(unit) else set())
    received = sum(FLOAT32_BYTES * c0 * h * w if p == SOURCE else int(outs[p]) for p in preds)
    return params + sum(int(outs[v]) for v in computed) + received


def process_bytes(arch, images: int) -> int:
    """Memory one process needs to run ``arch`` whole and hold ``images`` input images:
    its float32 parameters, one inference's activations (every output kept, the bound a
    worker charges in :func:`unit_bytes`) and the images."""
    return int(arch.costs.params.sum()) * FLOAT32_BYTES + int(arch.costs.out_bytes.sum()) + images * image_bytes(arch)


def check_process_memory(arch, check_inputs: int, available: int | None = None) -> None:
    """Refuse, in one line, a run whose single-process reference (the baseline rows, the
    check inputs' exact logits) needs more than the ``available`` memory (default: what
    the system has free now). Why: a spec at 20,000 px was accepted and died in torch's
    allocator with a traceback (153 GB of check images), or in the kernel's OOM killer.
    ``check_inputs``: the images compared with the exact network, beside the one timed."""
    if available is None:
        import psutil

        available = psutil.virtual_memory().available
    need = process_bytes(arch, check_inputs + 1)
    if need > available:
        shape = "×".join(str(int(d)) for d in arch.spec.input_shape)
        raise ParawireError(
            f"input shape {shape}: one process needs about {need / 2**30:.1f} GiB to run the network and hold"
            f" its image and {check_inputs} check inputs, more than the {available / 2**30:.1f} GiB free here;"
            " use a smaller image or fewer --check-inputs")
