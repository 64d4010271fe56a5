"""The console-script entry point: run the app, turn user errors into one line and an exit code."""

from __future__ import annotations

from rich.markup import escape

try:  # typer >= 0.20 carries its own copy of click; older ones use click itself
    from typer._click import exceptions as click
except ImportError:  # pragma: no cover - depends on the installed typer
    from click import exceptions as click  # type: ignore[no-redef]

from genedge.cli._app import app, err, fail
from genedge.runtime.errors import (
    USER_ERRNOS,
    GenedgeError,
    Interrupted,
    missing_extra,
    os_error_message,
    user_message,
)


def main() -> None:
    """Console-script entry point.

    Exit codes: 0 success; 1 a check that ran and failed (parity, verify); 2 an error the user
    can fix, printed as one line on stderr (a missing extra, a bad value, a full disk); 128 + N
    when signal N stopped the command (130 for Ctrl-C, 143 for SIGTERM), after it left a
    consistent state behind (a checkpoint, no half-written file).
    """
    try:
        # Not standalone: usage errors (a bad choice, a missing argument) come back here, so
        # they end in one line like every other error a user can cause.
        code = app(standalone_mode=False)
    except click.NoArgsIsHelpError as e:
        err.print(escape(e.format_message()), highlight=False, soft_wrap=True)
        raise SystemExit(2) from None
    except click.UsageError as e:
        where = f" (see `{e.ctx.command_path} --help`)" if e.ctx is not None else ""
        raise SystemExit(fail(e.format_message() + where).exit_code) from None
    except click.ClickException as e:
        raise SystemExit(fail(e.format_message()).exit_code) from None
    except Interrupted as e:
        err.print(f"interrupted: {escape(str(e))}", highlight=False, soft_wrap=True)
        raise SystemExit(e.exit_code) from None
    except GenedgeError as e:
        raise SystemExit(fail(user_message(e)).exit_code) from None
    except ModuleNotFoundError as e:
        missing = missing_extra(e)
        if missing is None:
            raise
        raise SystemExit(fail(str(missing)).exit_code) from None
    except OSError as e:
        if e.errno not in USER_ERRNOS:
            raise
        raise SystemExit(fail(os_error_message(e)).exit_code) from None
    except KeyboardInterrupt:
        err.print("interrupted")
        raise SystemExit(130) from None
    if isinstance(code, int) and code:
        raise SystemExit(code)
