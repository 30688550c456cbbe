"""``make <target> ARGS="key=value ..."``: ARGS reach the command as words, never through the shell.

The Makefile puts ARGS into the environment (``ECOMVISION_ARGS``) instead of into the recipe's command
line, where the shell would run a `...`, ``$(...)`` or ``; cmd`` inside it. This wrapper splits the
value into words as a shell does (quotes group, a backslash escapes) with nothing expanded and nothing
run, appends them to the command and replaces itself with it (same process, same exit status)::

    python -m shared.make_args COMMAND [ARG ...]     # COMMAND ARG ... <the words of $ECOMVISION_ARGS>
"""

from __future__ import annotations

import os
import shlex
import sys

ENV = "ECOMVISION_ARGS"


def words(text: str) -> list[str]:
    """The shell words of ``text`` (quotes removed, nothing expanded); SystemExit with one line if a
    quote is left open."""
    try:
        return shlex.split(text)
    except ValueError as exc:
        raise SystemExit(f"error: cannot split ARGS={text!r} into words ({exc}): close the quote") from None


def main(argv: list[str]) -> None:
    if not argv:
        raise SystemExit("usage: python -m shared.make_args COMMAND [ARG ...]  (appends the words of $ECOMVISION_ARGS)")
    env = dict(os.environ)
    extra = words(env.pop(ENV, ""))   # not inherited: a command it starts gets no ARGS of its own
    os.execvpe(argv[0], [*argv, *extra], env)


if __name__ == "__main__":
    main(sys.argv[1:])
