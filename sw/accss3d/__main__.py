"""Owns ``python -m accss3d``: the same entry point as the ``accss3d`` console command."""

import sys

from .cli import main

sys.exit(main())
