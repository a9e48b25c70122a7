"""Statistics of a DAG (filled in by the foundation issue's generator work)."""
