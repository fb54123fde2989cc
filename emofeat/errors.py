"""The one exception type that means "the user's input is wrong"."""


class EmofeatError(Exception):
    """Bad input or an unusable file: shown as one line, exit code 2, nothing written.

    Raised by the library for anything the user can fix (a missing directory, an unknown
    layer, a split that does not match). Bugs stay ordinary exceptions with tracebacks.
    """
