"""Inference engines: what a worker (or one process) computes its vertices with.

An engine turns vertices of an :class:`~parawire.nn.ArchitectureNet` into callables
the executor's runner calls vertex by vertex (see :class:`parawire.records.EnginePlugin`).
Built-ins: ``torch`` (eager) and ``onnxruntime`` (ONNX graphs written on the worker).
"""

DEFAULT_ENGINE = "onnxruntime"
"""The fastest engine measured on the reference machine (docs/engines.md)."""
