"""The base of every bad-input error: the CLI prints these as one line and exits 1."""


class InputError(ValueError):
    """Bad input (file, field, topic or value); the message names it and says what is wrong."""
