"""Owns the typed exceptions that every user-facing error of AccSS3D is raised as.

A user-caused error is one clear line (what was wrong, where, what is accepted).  The CLI
prints ``accss3d: error: <message>`` and exits with status 2; the API raises these types so
that callers can catch them.
"""

__all__ = ["AccssError", "ConfigError", "InputError", "ProgramError"]


class AccssError(Exception):
    """Base class of every error a user of AccSS3D can cause."""


class InputError(AccssError, ValueError):
    """Bad input data: unreadable or malformed files, empty or non-finite point clouds..."""


class ConfigError(AccssError, ValueError):
    """An invalid parameter: architecture configuration, layer shape, CLI option value."""


class ProgramError(AccssError, ValueError):
    """A corrupt, truncated or incompatible instruction stream or memory image."""
