"""Every failure a user can cause becomes one ``error: …`` line and a non-zero exit.

The command line is the one place that sees every exception, so it is the one place
that decides how each kind reads: the project's own errors already say what, the value
and the fix; click's usage errors, file-system errors and undecodable files are put in
the same one-line shape here instead of a usage banner or a traceback. Anything else is
a bug and keeps its traceback, so that it gets reported rather than hidden.

Exit status: 2 for bad input (the project's errors and usage errors, as click does),
1 for the environment refusing (file system), 130 for Ctrl-C, 143 for SIGTERM. SIGTERM
(``kill``, a job scheduler's timeout) unwinds like Ctrl-C, so process pools are shut
down and temporary folders removed instead of worker processes being left orphaned.
"""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Sequence

import click
from parawire.errors import ParawireError

BAD_INPUT, ENVIRONMENT, INTERRUPTED, TERMINATED = 2, 1, 130, 143


class Terminated(BaseException):
    """SIGTERM arrived; raised in the main thread so that ``finally`` blocks run."""


def _terminate(signum, frame) -> None:
    raise Terminated


def one_line(text: str) -> str:
    """Join a multi-line message into one line (a plugin may raise several). A line that
    ends in ``:`` or ``,`` continues a list (click's ``Choose from:`` one choice a line),
    so it is joined with a space, not a ``;``."""
    out = ""
    for part in (p.strip() for p in str(text).splitlines()):
        if part:
            out += (" " if out.endswith((":", ",")) else "; " if out else "") + part
    return out


def describe(exc: BaseException) -> tuple[str, int] | None:
    """(message, exit status) for an error a user can act on; None for a bug."""
    if isinstance(exc, ParawireError):
        return one_line(str(exc)), BAD_INPUT
    if isinstance(exc, click.UsageError):
        command = exc.ctx.command_path if exc.ctx is not None else "parawire"
        return f"{one_line(exc.format_message())} (see `{command} --help`)", exc.exit_code
    if isinstance(exc, click.ClickException):
        return one_line(exc.format_message()), exc.exit_code
    if isinstance(exc, UnicodeDecodeError):
        return (f"an input file is not UTF-8 text ({exc.reason} at byte {exc.start});"
                " save it as UTF-8"), BAD_INPUT
    if isinstance(exc, OSError):
        where = f"{exc.filename}: " if exc.filename else ""
        return f"{where}{exc.strerror or exc}; check the path and its permissions", ENVIRONMENT
    return None


def run_command(command: click.Command, argv: Sequence[str] | None, prog_name: str) -> int:
    """Run a click command; return its exit status after printing any failure as one line."""
    main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _terminate) if main_thread else None
    try:
        status = command.main(args=list(argv) if argv is not None else None,
                              prog_name=prog_name, standalone_mode=False)
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.exceptions.NoArgsIsHelpError as exc:
        click.echo(exc.ctx.get_help())  # a bare group (`parawire`, `parawire study`) asks for its help
        return 0
    except (KeyboardInterrupt, click.exceptions.Abort):
        click.echo("aborted", err=True)
        return INTERRUPTED
    except Terminated:
        click.echo("terminated", err=True)
        return TERMINATED
    except Exception as exc:
        known = describe(exc)
        if known is None:
            raise
        message, status = known
        click.echo(f"error: {message}", err=True)
        return status
    finally:
        if main_thread:
            signal.signal(signal.SIGTERM, previous)
    return status if isinstance(status, int) else 0  # click returns --help's Exit code


def exit_with(status: int) -> None:
    """Exit with ``status`` unless it is 0 (so callers in tests see a normal return)."""
    if status:
        sys.exit(status)
