"""Spec → architecture → partition → score, with the installed plugins: the first layer
that looks plugins up. The layers below are handed what plugins produced.
"""
