"""Built-in partitioners (filled in by their issue)."""

from parawire.hookspecs import hookimpl


@hookimpl
def parawire_partitioners():
    return []
