"""The hook around the first load of the process-wide plugins.

Loading every ``parawire`` entry point imports the plugins and what they import, torch
among them: seconds on a busy machine, during which a command would look hung. The
registry never prints, so the command line installs what to show meanwhile with
:func:`while_loading` (a spinner in a terminal) and
:func:`~parawire.registry.manager.get_plugins` wraps its first load in :func:`loading`.
This module imports nothing, so installing the hook costs a command's start-up nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext

_hook: list[Callable[[], AbstractContextManager[object]]] = [nullcontext]


def while_loading(hook: Callable[[], AbstractContextManager[object]]) -> None:
    """Wrap every later first load of the plugins in ``hook()``."""
    _hook[0] = hook


def loading() -> AbstractContextManager[object]:
    """What the first load runs inside (nothing, unless a caller installed a hook)."""
    return _hook[0]()
