"""Turn a factory reference into an ``nn.Module``: ``FILE.py:FACTORY`` or ``package.module:FACTORY``.

A reference names code, so loading one runs that code. That is why the worker side never
loads a reference a deployment message names unless its operator allowed exactly that
string (``parawire worker --allow-model REF``, see :mod:`parawire.models.deploy`).

The factory is called without arguments, except that a parameter named ``input_shape``
receives the ``(C, H, W)`` the user gave, so one factory can size itself to the image
(the bundled examples do).
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import inspect
import sys
from collections.abc import Callable
from pathlib import Path

from parawire.errors import ParawireError

Shape = tuple[int, int, int]


def split_ref(ref: str) -> tuple[str, str]:
    """``"a/b.py:make"`` → ``("a/b.py", "make")``; the split is at the *last* colon so
    Windows-style ``C:\\…`` paths keep theirs."""
    where, sep, name = ref.rpartition(":")
    if not sep or not where or not name.isidentifier():
        raise ParawireError(
            f"--model: got {ref!r}; write FILE.py:FACTORY or package.module:FACTORY"
        )
    return where, name


def _module_from_file(path: str) -> object:
    """The module of a ``FILE.py``, imported again whenever the file's content changed:
    a long-running worker then builds what the coordinator deploys after an edit (the
    deployment's digest says whether both traced the same program)."""
    file = Path(path).resolve()
    if not file.is_file():
        raise ParawireError(f"--model: file {path!r} does not exist (looked at {file})")
    source = file.read_bytes()
    content = hashlib.sha256(source).hexdigest()
    # A stable, private module name per file: fx-generated code and pickling-free
    # tooling look classes up by module name, so it must be registered in sys.modules.
    name = "parawire_model_" + hashlib.sha256(str(file).encode()).hexdigest()[:16]
    known = sys.modules.get(name)
    if known is not None and getattr(known, "__parawire_sha256__", None) == content:
        return known
    spec = importlib.util.spec_from_file_location(name, file)
    if spec is None or spec.loader is None:
        raise ParawireError(f"--model: cannot load {path!r} as a Python file")
    module = importlib.util.module_from_spec(spec)
    module.__parawire_sha256__ = content  # type: ignore[attr-defined]
    sys.modules[name] = module
    folder = str(file.parent)
    if folder not in sys.path:  # as `python FILE.py` does: the file's own helpers import
        sys.path.append(folder)
    try:
        exec(compile(source, str(file), "exec"), module.__dict__)
    except (Exception, SystemExit) as exc:  # a script's sys.exit() at import is a failed import too
        del sys.modules[name]
        raise ParawireError(f"--model: importing {path!r} failed ({type(exc).__name__}: {exc})") from exc
    return module


def _module_from_package(dotted: str) -> object:
    try:
        return importlib.import_module(dotted)
    except ImportError as exc:
        raise ParawireError(
            f"--model: cannot import {dotted!r} ({exc}); is it installed or on PYTHONPATH?"
        ) from exc
    except Exception as exc:
        raise ParawireError(f"--model: importing {dotted!r} failed ({type(exc).__name__}: {exc})") from exc


def load_factory(ref: str) -> Callable[..., object]:
    """The callable a reference names (its module is imported, i.e. its code runs)."""
    where, name = split_ref(ref)
    module = _module_from_file(where) if where.endswith(".py") else _module_from_package(where)
    factory = getattr(module, name, None)
    if factory is None or not callable(factory):
        raise ParawireError(f"--model: {where!r} has no callable named {name!r}")
    return factory


def build_model(ref: str, input_shape: Shape):
    """Call the factory ``ref`` names and check that it returns an ``nn.Module`` (in eval mode)."""
    import torch

    factory = load_factory(ref)
    try:
        params = inspect.signature(factory).parameters
    except (TypeError, ValueError):  # builtins without a signature
        params = {}
    kwargs = {"input_shape": tuple(input_shape)} if "input_shape" in params else {}
    try:
        model = factory(**kwargs)
    except Exception as exc:
        raise ParawireError(f"--model: {ref} raised {type(exc).__name__}: {exc}") from exc
    if not isinstance(model, torch.nn.Module):
        raise ParawireError(f"--model: {ref} returned {type(model).__name__}; it must return a torch.nn.Module")
    return _unwrapped(model, ref).eval()


def _unwrapped(model, ref: str):  # type: ignore[no-untyped-def]
    """The module torch.fx can trace: ``torch.compile``'s wrapper gives its original
    module (fx traces Python, the compiled code is of no use to a split model; the
    weights keep the original's ``state_dict`` names on both sides); a TorchScript
    module has no Python forward to trace. Before, both failed in the trace with fx's
    internal message (``Module [OptimizedModule] is missing the required "forward"``)."""
    import torch

    original = getattr(model, "_orig_mod", None)
    if isinstance(original, torch.nn.Module) and type(model).__name__ == "OptimizedModule":
        return original
    if isinstance(model, torch.jit.ScriptModule):
        raise ParawireError(f"--model: {ref} returned a TorchScript module ({type(model).__name__}), which"
                            " torch.fx cannot trace; return the nn.Module before torch.jit.script/trace")
    return model
