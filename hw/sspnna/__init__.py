"""SSpNNA: the Amaranth generator of the AccSS3D sparse-convolution core.

One block per module: ``pe`` -> ``array`` -> ``accumulator`` -> ``compute`` (the rulebook
path), ``l1`` (banked SRAM), ``load``/``store``/``fetch`` (DMA over AXI4), ``csr``
(AXI4-Lite registers), ``decoder``/``controller`` (instruction stream, tokens, errors),
``top``.  Parameters come whole from :class:`accss3d.arch.ArchConfig`, the instruction set
from :mod:`accss3d.isa`; ``docs/architecture.md`` is the specification.
"""

__all__ = []
