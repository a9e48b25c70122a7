"""The plugin machinery: the records and contexts plugins exchange with parawire, the
pluggy hook specifications, one registry per kind, and the manager that loads every
``parawire`` entry point. Plugin authors import :mod:`parawire.plugin`, not this.
"""
