"""Inference engines: what a worker (or one process) computes its vertices with.

An engine turns vertices of an :class:`~parawire.network.nn.ArchitectureNet` into callables
the executor's runner calls vertex by vertex (see :class:`parawire.registry.records.EnginePlugin`).
Built-ins: ``torch`` (eager) and ``onnxruntime`` (ONNX graphs written on the worker);
which one runs when none is named is :data:`parawire.registry.records.DEFAULT_ENGINE`.
"""
