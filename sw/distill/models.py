"""Owns the network architectures of the study: the ResNet-18 teacher and the two students.

* ``resnet18``: the CIFAR variant of ResNet-18 (3x3 stem, stride 1, no max-pool; stages of
  2 basic blocks at widths w, 2w, 4w, 8w with strides 1, 2, 2, 2; global average pool), for
  1- or 3-channel inputs of any size >= 8 px.  ``width`` (default 64, the paper's) scales it.
* ``lenet5``: LeNet-5 as in the paper (conv 6-16 with 5x5 kernels and 2x2 max-pools, fully
  connected 400-120-84-classes).  Inputs are brought to 32 px first: a 28 px image is zero-padded
  by 2 (as LeCun did for MNIST), other sizes are resized bilinearly.
* ``alexnet``: the paper's small CIFAR AlexNet (conv 64-192-384-256-256 with 3x3 kernels,
  dropout, fully connected 2048-2048-classes); ``width`` scales every layer (1.0 = paper).  The
  flattened size follows from the input size.

Every factory takes ``in_channels``, ``num_classes`` and ``image_size`` plus its own keyword
options; :data:`MODELS` is the registry a config names them through.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .errors import DistillError
from .registry import Registry

__all__ = ["MODELS", "ResNet18", "LeNet5", "AlexNet", "build_model", "count_parameters"]

#: Registry of model factories, keyed by config name.
MODELS = Registry("model")


class _BasicBlock(nn.Module):
    """Two 3x3 conv-BN layers with an identity (or 1x1 projection) shortcut."""

    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or c_in != c_out:
            self.shortcut = nn.Sequential(
                nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class ResNet18(nn.Module):
    """CIFAR-style ResNet-18.

    Parameters
    ----------
    in_channels : int
        1 (grey) or 3 (RGB).
    num_classes : int
        Number of output logits.
    width : int
        Channels of the first stage (64 in the paper); later stages have 2x, 4x, 8x.
    """

    def __init__(self, in_channels: int = 3, num_classes: int = 10, width: int = 64) -> None:
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, width, 3, 1, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU()
        )
        layers: list[nn.Module] = []
        c_in = width
        for i, stride in enumerate((1, 2, 2, 2)):
            c_out = width * 2**i
            layers += [_BasicBlock(c_in, c_out, stride), _BasicBlock(c_out, c_out, 1)]
            c_in = c_out
        self.layers = nn.Sequential(*layers)
        self.fc = nn.Linear(c_in, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.layers(self.stem(x))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(out, 1), 1))


def _to_32(x: torch.Tensor) -> torch.Tensor:
    """Bring an image batch to 32x32: zero-pad 28 px by 2, resize other sizes bilinearly."""
    size = x.shape[-1]
    if size == 32:
        return x
    if size == 28:
        return F.pad(x, (2, 2, 2, 2))
    return F.interpolate(x, size=(32, 32), mode="bilinear", align_corners=False)


class LeNet5(nn.Module):
    """LeNet-5 (conv 6-16, fully connected 400-120-84-classes) on 32 px inputs."""

    def __init__(self, in_channels: int = 3, num_classes: int = 10) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, 6, 5),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(6, 16, 5),
            nn.ReLU(),
            nn.MaxPool2d(2),
        )
        self.classifier = nn.Sequential(
            nn.Linear(400, 120),
            nn.ReLU(),
            nn.Linear(120, 84),
            nn.ReLU(),
            nn.Linear(84, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.features(_to_32(x)), 1))


class AlexNet(nn.Module):
    """The paper's small AlexNet for CIFAR-sized inputs.

    Parameters
    ----------
    in_channels, num_classes : int
        Input channels and output logits.
    image_size : int
        Side of the (square) input; fixes the flattened feature size.
    width : float
        Multiplier of every layer's width (1.0: conv 64-192-384-256-256, fc 2048-2048).
    """

    def __init__(
        self, in_channels: int = 3, num_classes: int = 10, image_size: int = 32, width: float = 1.0
    ) -> None:
        super().__init__()
        c = [max(1, round(n * width)) for n in (64, 192, 384, 256, 256, 2048)]
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, c[0], 3, 1, 2),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(c[0], c[1], 3, padding=2),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(c[1], c[2], 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(c[2], c[3], 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(c[3], c[4], 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(3, 2, ceil_mode=image_size < 16),
        )
        with torch.no_grad():
            flat = self.features(torch.zeros(1, in_channels, image_size, image_size)).numel()
        self.classifier = nn.Sequential(
            nn.Dropout(0.5),
            nn.Linear(flat, c[5]),
            nn.ReLU(),
            nn.Dropout(0.6),
            nn.Linear(c[5], c[5]),
            nn.ReLU(),
            nn.Linear(c[5], num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.features(x), 1))


@MODELS.register("resnet18")
def _resnet18(in_channels: int, num_classes: int, image_size: int, width: int = 64) -> nn.Module:  # noqa: ARG001 - image_size: any size >= 8 works
    return ResNet18(in_channels, num_classes, int(width))


@MODELS.register("lenet5")
def _lenet5(in_channels: int, num_classes: int, image_size: int) -> nn.Module:
    return LeNet5(in_channels, num_classes)


@MODELS.register("alexnet")
def _alexnet(in_channels: int, num_classes: int, image_size: int, width: float = 1.0) -> nn.Module:
    return AlexNet(in_channels, num_classes, image_size, float(width))


def build_model(
    name: str, in_channels: int, num_classes: int, image_size: int, **options: object
) -> nn.Module:
    """Build the registered model ``name``; unknown names or options raise ``DistillError``."""
    factory = MODELS.get(name)
    if image_size < 8:
        raise DistillError(f"model {name!r}: images must be at least 8 px, got {image_size}")
    try:
        return factory(in_channels, num_classes, image_size, **options)
    except TypeError as exc:
        raise DistillError(f"model {name!r}: bad options {sorted(options)}: {exc}") from None


def count_parameters(model: nn.Module) -> int:
    """Return the number of trainable parameters of ``model``."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
