"""The concurrency score's data: the weighted hypergraph of an architecture (FLOPs or
predicted seconds on vertices, bytes on nets) and the metrics of a partition of it
(δ_W, Λ, Λ', η, entropy). The plugin-driven scoring of an architecture is one layer up,
in :mod:`parawire.pipeline.score`.
"""
