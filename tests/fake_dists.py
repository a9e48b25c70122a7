"""Real (if tiny) distributions on a temporary sys.path entry, for plugin-loading tests.

importlib.metadata finds a distribution by its ``*.dist-info`` folder on sys.path, so
writing one is exactly what ``pip install`` leaves behind, minus the copying.
"""

from __future__ import annotations

import importlib
import textwrap
from pathlib import Path


def install_fake_dist(site: Path, dist: str, module: str, source: str, ep_name: str) -> None:
    """Write package ``module`` (with ``source``) and a dist-info registering it."""
    site.mkdir(parents=True, exist_ok=True)
    (site / f"{module}.py").write_text(textwrap.dedent(source))
    info = site / f"{dist.replace('-', '_')}-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(f"[parawire]\n{ep_name} = {module}\n")
    importlib.invalidate_caches()


GENERATOR_SOURCE = """
    import networkx as nx
    from parawire.registry.hookspecs import hookimpl
    from parawire.registry.records import GeneratorPlugin, NoParams

    def generate(nodes, params, rng):
        return nx.path_graph(nodes)

    @hookimpl
    def parawire_generators():
        return [GeneratorPlugin(name={name!r}, summary="test", params=NoParams, generate=generate)]
"""
