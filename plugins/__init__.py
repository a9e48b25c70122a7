"""parawire's built-in plugins.

Each module here is registered as an entry point in parawire's own ``pyproject.toml``
(group ``parawire``), exactly as a third-party distribution would register its own.
"""
