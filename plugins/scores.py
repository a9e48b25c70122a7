"""Built-in scores plugins (filled in by their issue)."""

from parawire.hookspecs import hookimpl


@hookimpl
def parawire_scores():
    return []
