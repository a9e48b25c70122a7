"""parawire: concurrent neural architectures, their concurrency score, and distributed inference.

The public surface is small on purpose: a spec (``ArchitectureSpec``) goes in, and each
step of ``DESIGN.md``'s flow is one function in one module named after what it holds.
"""

from parawire.spec import ArchitectureSpec

__all__ = ["ArchitectureSpec", "__version__"]
__version__ = "0.1.0"
