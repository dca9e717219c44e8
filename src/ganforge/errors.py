"""The one base class of every error caused by the user's input: the CLI prints its message and exits 2."""

from __future__ import annotations


class UserError(ValueError):
    """Bad input (config, data, checkpoint, run directory, flag); the message names the problem and the fix."""
