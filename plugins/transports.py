"""Built-in transports plugins (filled in by their issue)."""

from parawire.hookspecs import hookimpl


@hookimpl
def parawire_transports():
    return []
