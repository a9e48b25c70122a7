"""Built-in generators: the paper's ER, BA, WS, DP and the baselines chain and FB.

Each module holds one small pure function ``generate(nodes, params, rng)`` and its
pydantic parameter model; this module only registers them (through parawire's own
entry point, the door a third-party plugin uses). Rules and defaults: docs/generators.md.
"""

from parawire.plugins.generators import ba, chain, dp, er, fb, ws
from parawire.registry.hookspecs import hookimpl
from parawire.registry.records import GeneratorPlugin, NoParams

SUMMARIES = {
    "er": "Erdős–Rényi: each pair an edge with probability p",
    "ba": "Barabási–Albert from m isolated vertices: m(N−m) edges",
    "ws": "Watts–Strogatz: k-ring lattice rewired with probability p",
    "dp": "distance probability on a ring: min(1, α·p^(β·d)) (paper eq. 1)",
    "chain": "one single chain (the status quo)",
    "fb": "RandWire: WS stages joined by merge/downsample vertices",
}


@hookimpl
def parawire_generators():
    return [
        GeneratorPlugin("er", SUMMARIES["er"], er.ErParams, er.generate),
        GeneratorPlugin("ba", SUMMARIES["ba"], ba.BaParams, ba.generate),
        GeneratorPlugin("ws", SUMMARIES["ws"], ws.WsParams, ws.generate),
        GeneratorPlugin("dp", SUMMARIES["dp"], dp.DpParams, dp.generate),
        GeneratorPlugin("chain", SUMMARIES["chain"], NoParams, chain.generate),
        GeneratorPlugin("fb", SUMMARIES["fb"], fb.FbParams, fb.generate),
    ]
