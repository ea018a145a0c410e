"""AccSS3D: the software side of the SSpNNA sparse-3D-convolution accelerator generator.

Data flows one way: point cloud -> voxels -> rulebooks -> reordering -> schedule ->
instruction stream + memory image -> RTL (or the functional/cycle models) -> outputs,
counters -> report.  Each stage is a module of this package; ``accss3d.arch`` holds the
architecture parameters that both the software and the hardware generator (``sspnna``) use.
"""

from .errors import AccssError, ConfigError, InputError

__all__ = ["AccssError", "ConfigError", "InputError", "__version__"]
__version__ = "0.1.0"
