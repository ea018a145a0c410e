"""Shared pytest configuration: Hypothesis profiles and small cached scenes."""

from __future__ import annotations

import os

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci", max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile("dev", max_examples=200, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture(scope="session")
def tiny_room():
    """A ~2,000-voxel generated room at 10 cm (dense references stay small)."""
    from accss3d.scene import RoomSpec, generate_scene
    from accss3d.voxel import voxelize

    return voxelize(generate_scene(RoomSpec(seed=3, target_voxels=2000, voxel_size=0.1)), 0.1)


@pytest.fixture(scope="session")
def two_batch_coords(tiny_room):
    """The tiny room twice, as batch entries 0 and 1 (the second shifted)."""
    from accss3d.rulebook import unique_coords

    a = tiny_room.coords
    b = a.copy()
    b[:, 0] = 1
    b[:, 1] += 3
    return unique_coords(np.concatenate([a, b]))
