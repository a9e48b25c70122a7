"""Built-in inference engines: ``onnxruntime`` (the default, fastest measured) and ``torch``.

Both compile the same :class:`parawire.network.nn.ArchitectureNet` blocks, so a worker rebuilds
its weights once, from the seed or the deployer's safetensors, whatever the engine.
"""

from parawire.registry.hookspecs import hookimpl
from parawire.registry.records import EnginePlugin, NoParams


def _torch(net, vertices, threads=None, params=None):
    from parawire.engines.torch_eager import compile_torch

    return compile_torch(net, vertices, threads)


def _ort(net, vertices, threads=None, params=None):
    from parawire.engines.ort import compile_ort

    return compile_ort(net, vertices, threads)


def _torch_whole(net, threads=None):
    """Parawire's own networks in channels-last (oneDNN convolutions); any other module as
    given, since channels-last breaks the ``.view`` calls arbitrary models make."""
    import torch
    from parawire.network.nn import ArchitectureNet

    return net.to(memory_format=torch.channels_last) if isinstance(net, ArchitectureNet) else net


def _ort_whole(net, threads=None):
    from parawire.engines.ort import unit_session

    dag = net.arch.dag
    session, _ = unit_session(net, dag.order, [dag.output], threads)
    return lambda x: session([x])


def _ort_fuse(net, segment, threads=None, params=None):
    from parawire.engines.ort import fused_session

    return fused_session(net, segment, threads)


def _ort_prepare(net, vertex, positions, threads=None, params=None):
    from parawire.engines.ort import steps_session

    return steps_session(net, vertex, positions, threads)


def _ort_module(module, inputs, threads=None, params=None):
    """Any module exported at the example inputs' shapes; a hybrid plan's tile stack built
    as ONNX directly (:mod:`parawire.engines.onnx_tiles`: constant boxes, no copies the
    exporter would add), or exported where that cannot express it."""
    from parawire.engines.fx_onnx import export_session
    from parawire.network.tiled import TileStack

    if isinstance(module, TileStack):
        from parawire.engines.onnx_tiles import stage_model
        from parawire.engines.ort import Session

        try:
            return Session(stage_model(module), threads).all
        except NotImplementedError:  # uneven pooling windows: the exporter's slices
            pass
    return export_session(module, inputs, threads, batch=True).all


@hookimpl
def parawire_engines():
    return [
        EnginePlugin(
            name="onnxruntime",
            summary="ONNX Runtime: one session per run of vertices between messages; graphs written on the worker",
            params=NoParams,
            compile=_ort,
            whole=_ort_whole,
            fuse=_ort_fuse,
            prepare=_ort_prepare,
            module=_ort_module,
        ),
        EnginePlugin(
            name="torch",
            summary="PyTorch eager, channels-last (oneDNN) convolutions",
            params=NoParams,
            compile=_torch,
            whole=_torch_whole,
        ),
    ]
