"""Options and value types several commands share, so each means the same everywhere.

Naming rule (one meaning per short option, across all commands): ``-n`` is always
``--nodes``, ``-u`` always ``--units``, ``-o`` always an output file, ``-g``
``--generator``, ``-s`` ``--seed``, ``-h`` help; counts of timed repetitions are
``--runs``. Plugin-name options complete from the installed plugins in the shell
(``eval "$(_PARAWIRE_COMPLETE=bash_source parawire)"``).
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable

import click
from parawire.errors import ParawireError


def plugin_names(kind: str) -> Callable:
    """A click ``shell_complete`` callback: installed plugin names of ``kind``
    (``generators``, ``staging``, …) that start with what was typed; after a comma,
    the name being typed in a comma-separated list."""

    def complete(ctx, param, incomplete: str) -> list:
        from click.shell_completion import CompletionItem
        from parawire.registry.manager import get_plugins

        head, _, last = incomplete.rpartition(",")
        prefix = f"{head}," if head else ""
        registry = get_plugins().kinds().get(kind)
        if registry is None:
            return []
        names = {record.name: record.summary for record in registry if record.name.startswith(last)}
        return [CompletionItem(prefix + name, help=summary) for name, summary in names.items()]

    return complete


def own_default(kind: str) -> Callable:
    """A click callback: a plugin-name option left at its default selects parawire's own
    plugin of that name (``parawire:multilevel`` when another distribution also provides
    ``multilevel``, the bare name otherwise, so labels stay as they were), while a name
    the user typed is selected as typed. One third-party plugin named like a built-in
    must not break a command whose user never typed the name (issue 22)."""

    def callback(ctx, param, value):  # type: ignore[no-untyped-def]
        return own_if_default(ctx, param.name, value, kind)

    return callback


def own_if_default(ctx: click.Context, name: str, value, kind: str):  # type: ignore[no-untyped-def]
    """:func:`own_default`'s work, for a command that must not load plugins while its
    options are parsed (``worker`` first makes SIGTERM a plain stop)."""
    if value is None or ctx.get_parameter_source(name) is not click.core.ParameterSource.DEFAULT:
        return value
    from parawire.registry.manager import get_plugins

    registry = get_plugins().kinds()[kind]
    if isinstance(value, tuple):
        return tuple(map(registry.own, value))
    return ",".join(map(registry.own, value.split(",")))  # a comma-separated list, or one name


MAX_PROCESSES = max(64, 2 * (os.cpu_count() or 1))
"""Most local processes (``--workers``) or threads (``--threads``) a command starts: more
than the cores only queue for them, and each process holds its own torch (hundreds of
MB). 10**20 was an OverflowError traceback from the process pool."""


def threads_option(default: int = 1, what: str = "this process"):
    return click.option("--threads", type=click.IntRange(1, MAX_PROCESSES), default=default, show_default=True,
                        help=f"torch intra-op threads of {what}")


class FiniteFloat(click.FloatRange):
    """A float in range that is also finite: ``inf`` and ``nan`` are refused when parsed
    (``--eps inf`` would reach a partitioner's arithmetic and overflow there)."""

    def convert(self, value, param, ctx):  # type: ignore[no-untyped-def]
        number = super().convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"got {value}; give a finite number", param, ctx)
        return number


def finite_floats(minimum: float = 0.0) -> FiniteFloat:
    """Finite floats ≥ ``minimum`` (imbalance bounds ε)."""
    return FiniteFloat(min=minimum)


_TCP = re.compile(r"^tcp://(?P<host>\[[^\]]+\]|[^:/]+):(?P<port>[^:/]+)$")


_OTHER = re.compile(r"^(?!tcp://)[a-z][a-z0-9+.-]*://.+$")


def check_endpoint(text: str, option: str, any_port: bool = False) -> str:
    """``tcp://HOST:PORT`` with 1 ≤ PORT ≤ 65535 (``*`` when ``any_port``), or
    ``SCHEME://ADDRESS`` of another transport (``ipc://PATH``); anything else is refused
    here instead of ZeroMQ picking a random port or failing late."""
    if _OTHER.match(text):
        return text
    match = _TCP.match(text)
    wanted = "tcp://HOST:PORT" + (" (PORT 1-65535 or *)" if any_port else " (PORT 1-65535)") + " or ipc://PATH"
    if match is None:
        raise ParawireError(f"{option} {text}: not an endpoint; write {wanted}")
    port = match["port"]
    if port == "*" and any_port:
        return text
    if not port.isdigit() or not 1 <= int(port) <= 65535:
        raise ParawireError(f"{option} {text}: port {port!r} is out of range; write {wanted}")
    return text


class Endpoint(click.ParamType):
    """A ZeroMQ endpoint, checked at parse time (see :func:`check_endpoint`)."""

    name = "endpoint"

    def __init__(self, any_port: bool = False):
        self.any_port = any_port

    def convert(self, value, param, ctx):  # type: ignore[no-untyped-def]
        option = max(param.opts, key=len) if param is not None and param.opts else "endpoint"
        return check_endpoint(str(value), option, self.any_port)


def placement_option(fn: Callable) -> Callable:
    """``--placement``: how a run places vertices (:mod:`parawire.pipeline.placement`)."""
    from parawire.pipeline.placement import PLACEMENTS

    return click.option(
        "--placement", type=click.Choice(PLACEMENTS), default=PLACEMENTS[0], show_default=True,
        help="partition: the partitioner, balancing predicted time (the paper's way); schedule: the "
             "fastest the latency model finds (HEFT and the partition, refined), units may stay idle; "
             "hybrid: the high-resolution layers tile-parallel, threshold and grid by the model (or no "
             "tiles, or one device); auto: the fastest predicted of the three",
    )(fn)


MAX_CHECK_INPUTS = 1024
"""Most ``--check-inputs``: the check holds its images at once (1024 at 3 × 224 × 224 are
600 MB); an absurd count was a traceback from torch's allocator."""


def codec_options(auto: bool = False) -> Callable:
    """``--codec NAME`` and ``--codec-param NAME=VALUE`` (with ``auto``: ``--codec auto``,
    ``--max-top1-change`` and ``--check-inputs``, the images a run's outputs are compared on
    with one exact process): how each crossing travels (docs/executor.md, Codecs)."""
    from parawire.cli.params import param_option

    more = " or auto (per crossing, the fastest the latency model finds within --max-top1-change)" if auto else ""

    def decorate(fn: Callable) -> Callable:
        if auto:
            fn = click.option("--check-inputs", type=click.IntRange(1, MAX_CHECK_INPUTS), default=32,
                              show_default=True, help="images whose top-1 class the run is compared on with one "
                              "exact process (and --codec auto's calibration set)")(fn)
            fn = click.option("--max-top1-change", type=click.FloatRange(0, 1), default=0.005, show_default=True,
                              help="--codec auto: largest share of calibration inputs whose top-1 class may change")(fn)
        fn = param_option("codec")(fn)
        return click.option("--codec", default="raw", show_default=True, shell_complete=plugin_names("codecs"),
                            help=f"activation codec of every crossing (raw, fp16, bf16, int8, zstd, …){more}")(fn)

    return decorate


def codec_plan(codec: str, params: dict, auto: bool = False):
    """The :class:`~parawire.registry.codecs.CodecPlan` of ``--codec``/``--codec-param``,
    checked before any work (unknown name, bad parameter); ``None`` for ``auto``."""
    from parawire.registry.codecs import CodecChoice, CodecPlan, get_codec

    if codec == "auto":
        if not auto:
            raise ParawireError("--codec auto: only a run chooses codecs (run, testbed run); name one codec here")
        if params:
            raise ParawireError("--codec-param: goes with a codec name; --codec auto chooses codecs and their parameters")
        return None
    choice = CodecChoice(name=codec, params=params)
    get_codec(choice)
    return CodecPlan(default=choice)


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


class NumberList(click.Option):
    """A ``multiple`` option that also takes ``--units 4 6 8``: after its first value it
    swallows the following arguments while they are numbers (click has no ``nargs=-1``
    for options)."""

    def add_to_parser(self, parser, ctx):  # type: ignore[no-untyped-def]
        super().add_to_parser(parser, ctx)
        for name in self.opts:
            option = parser._long_opt.get(name) or parser._short_opt.get(name)
            if option is not None:
                option.process = self._greedy(option.process)

    @staticmethod
    def _greedy(process):  # type: ignore[no-untyped-def]
        def consume(value, state):  # type: ignore[no-untyped-def]
            process(value, state)
            while state.rargs and _is_number(state.rargs[0]):
                process(state.rargs.pop(0), state)

        return consume
