"""Owns the ``distill`` package: the data-augmentation vs knowledge-distillation study.

Teachers trained with mixed-sample augmentation (mixup, CutMix) are reported to distil into
worse students (arXiv 2006.03810); this package reproduces that study end to end in plain
PyTorch, independent of the accelerator code.  Entry points: ``accss3d-distill run CONFIG``,
``python -m distill``, or :func:`distill.runner.run_experiment` with
:func:`distill.config.load_config`.
"""

__all__ = ["__version__"]

__version__ = "0.1.0"
