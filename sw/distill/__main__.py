"""Owns ``python -m distill``: the same command line as ``accss3d-distill``."""

import sys

from .cli import main

__all__: list[str] = []

if __name__ == "__main__":
    sys.exit(main())
