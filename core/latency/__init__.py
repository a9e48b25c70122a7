"""The latency model: device profiles, the simulated makespan of a placement, and the
list schedules (HEFT and refinement) that place by it. Costs in, seconds out; nothing
here runs a network.
"""
