"""The one error type for bad user input, shared by every layer."""

from __future__ import annotations


class DeforumInputError(ValueError):
    """Bad input from the user: the message names the field, the value and the fix.

    The command line turns it into one line on stderr and exit status 2.
    """
