"""parawire: concurrent neural architectures, their concurrency score, and distributed inference.

The public surface is small on purpose: a spec (``ArchitectureSpec``) goes in, and each
step of ``DESIGN.md``'s flow is one function in one module named after what it holds.
"""

from __future__ import annotations

__all__ = ["ArchitectureSpec", "__version__"]
__version__ = "0.1.0"


def __getattr__(name: str):
    """``parawire.ArchitectureSpec`` on first use: importing the package (as ``parawire
    --help`` does) then costs no pydantic."""
    if name == "ArchitectureSpec":
        from parawire.graph.spec import ArchitectureSpec

        return ArchitectureSpec
    raise AttributeError(f"module 'parawire' has no attribute {name!r}")
