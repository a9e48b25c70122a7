"""The graph layer: the architecture spec, seeded random streams, the DAG (one input,
one output vertex) and its statistics. Pure networkx and numpy; nothing here knows a
plugin, a network or a device.
"""
