"""The one exception type that means "the user's input is wrong" (exit code 2, no traceback)."""

from __future__ import annotations


class VislabError(Exception):
    """Bad input: a config key or value, a path, a dataset, a checkpoint.

    The message is one line that names the thing and says what to do. The CLI prints it to stderr
    and exits with code 2; anything else that escapes is a bug (exit code 1, with its traceback).
    """

    exit_code = 2
