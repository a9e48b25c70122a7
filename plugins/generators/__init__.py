"""Built-in generators (filled in by their issue)."""

from parawire.hookspecs import hookimpl


@hookimpl
def parawire_generators():
    return []
