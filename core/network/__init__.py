"""The network layer: shapes through the DAG, analytical costs (MACs, parameters, bytes),
the :class:`~parawire.network.architecture.Architecture` value and the torch module
built from it. Staging decisions arrive as flags; no plugin is looked up here.
"""
