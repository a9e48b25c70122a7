"""Built-in inference engines: ``onnxruntime`` (the default, fastest measured) and ``torch``.

Both compile the same :class:`parawire.nn.ArchitectureNet` blocks, so a worker rebuilds
its weights once, from the seed or the deployer's safetensors, whatever the engine.
"""

from typing import Literal

from parawire.hookspecs import hookimpl
from parawire.records import EnginePlugin
from pydantic import BaseModel, ConfigDict


class TorchParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    channels_last: bool = True


class OrtParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    optimization: Literal["all", "extended", "basic", "none"] = "all"


def _torch(net, vertices, threads=None, params=None):
    from parawire.engines.torch_eager import compile_torch

    return compile_torch(net, vertices, threads, **(params or TorchParams()).model_dump())


def _ort(net, vertices, threads=None, params=None):
    from parawire.engines.ort import compile_ort

    return compile_ort(net, vertices, threads, **(params or OrtParams()).model_dump())


def _torch_whole(net, threads=None):
    import torch

    return net.to(memory_format=torch.channels_last)


def _ort_whole(net, threads=None):
    from parawire.engines.ort import unit_session

    dag = net.arch.dag
    session, _ = unit_session(net, dag.order, [dag.output], threads)
    return lambda x: session([x])


def _ort_fuse(net, segment, threads=None, params=None):
    from parawire.engines.ort import fused_session

    return fused_session(net, segment, threads, **(params or OrtParams()).model_dump())


@hookimpl
def parawire_engines():
    return [
        EnginePlugin(
            name="onnxruntime",
            summary="ONNX Runtime: one session per run of vertices between messages; graphs written on the worker",
            params=OrtParams,
            compile=_ort,
            whole=_ort_whole,
            fuse=_ort_fuse,
        ),
        EnginePlugin(
            name="torch",
            summary="PyTorch eager, channels-last (oneDNN) convolutions",
            params=TorchParams,
            compile=_torch,
            whole=_torch_whole,
        ),
    ]
