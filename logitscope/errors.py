"""Errors a user can cause. The CLI prints them as one line and exits non-zero."""


class UserError(Exception):
    """Bad input (unknown model, impossible answer set, empty prompt, ...): one clear line."""


class ModelError(UserError):
    """The model misbehaved at run time (NaN logits, out of memory)."""


class Interrupted(KeyboardInterrupt):
    """Ctrl-C during a run, with a message saying what was kept (the CLI prints it)."""
