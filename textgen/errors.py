"""The one exception type for bad user input: its message names the problem and the fix."""


class TextgenError(Exception):
    """A user-facing error. The CLI prints its message on one line and exits with code 2."""
