"""The one exception type that means "the user's input is wrong"."""


class EmofeatError(Exception):
    """Bad input or an unusable file: shown as one line, exit code 2, nothing written.

    Raised by the library for anything the user can fix (a missing directory, an unknown
    layer, a split that does not match). Bugs stay ordinary exceptions with tracebacks.
    """


class StoreChanged(EmofeatError):
    """The output folder holds a store made with another configuration (``diff`` says how)."""

    def __init__(self, message: str, diff: str) -> None:
        super().__init__(message)
        self.diff = diff
