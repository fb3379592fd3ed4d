"""Errors a user can fix. The CLI prints them as one line (no traceback) and exits with code 2."""


class UserError(Exception):
    """Something the user asked for cannot be done; the message says what to do instead."""
