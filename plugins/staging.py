"""Built-in staging plugins (filled in by their issue)."""

from parawire.hookspecs import hookimpl


@hookimpl
def parawire_staging_policies():
    return []
