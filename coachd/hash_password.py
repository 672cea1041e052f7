"""``coachd hash-password``: print a ``password_hash`` for ``[[supervisors]]`` (the console login).

On a terminal it asks for the password twice without echoing it; otherwise it
reads one line from standard input (``printf '%s\\n' "$PW" | coachd hash-password``).
The password never appears on the command line.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from typing import TextIO

from coachd import passwords


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    help_text = "print a password_hash for [[supervisors]] (the browser console's login)"
    parser = commands.add_parser("hash-password", help=help_text, description=help_text + ".")
    parser.add_argument(
        "--iterations",
        type=int,
        default=passwords.ITERATIONS,
        metavar="N",
        help=f"PBKDF2 iterations (default {passwords.ITERATIONS}, at least"
        f" {passwords.MIN_ITERATIONS})",
    )


def _read(stdin: TextIO) -> str:
    if stdin.isatty():
        first = getpass.getpass("Password: ")
        if getpass.getpass("Again: ") != first:
            raise ValueError("the two passwords differ")
        return first
    return stdin.readline().rstrip("\r\n")


def handle(args: argparse.Namespace, stdin: TextIO = sys.stdin) -> int:
    if not passwords.MIN_ITERATIONS <= args.iterations <= passwords.MAX_ITERATIONS:
        print(
            f"coachd: --iterations must be {passwords.MIN_ITERATIONS}..{passwords.MAX_ITERATIONS}",
            file=sys.stderr,
        )
        return 2
    try:
        password = _read(stdin)
        encoded = passwords.hash_password(password, iterations=args.iterations)
    except ValueError as exc:
        print(f"coachd: {exc}", file=sys.stderr)
        return 1
    except (EOFError, KeyboardInterrupt):
        return 130
    print(encoded)
    return 0
