"""Owns the typed exception that every user-facing error of the distill study is raised as.

A user-caused error is one clear line: what was wrong, where, and what is accepted.  The CLI
prints ``accss3d-distill: error: <message>`` and exits with status 2; the API raises
:class:`DistillError` so that callers can catch it.
"""

__all__ = ["DistillError"]


class DistillError(ValueError):
    """A user error: invalid config value, unknown name, missing dataset file."""
