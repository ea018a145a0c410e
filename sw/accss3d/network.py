"""Owns the workload: sparse U-Nets described as data, and the coordinate manager.

A :class:`Network` is a list of convolution layers (:class:`LayerSpec`) over named tensors.
Every layer reads one or more tensors of the same tensor stride, **concatenated along
channels** (U-Net skip connections), and writes one tensor.  A layer may also add a
*residual* tensor (ResNet basic blocks): the core has no separate adder, so the residual is
accumulated into the same accumulators through one extra centre-offset weight plane (the
identity, or the 1x1 projection when the channel counts differ) - exactly the MACs of
MinkowskiEngine's 1x1 shortcut, plus ``C x C`` for identity shortcuts.

The :class:`CoordinateManager` builds the coordinates of every stride level once and caches
kernel maps by ``(spec, input stride)``, like MinkowskiEngine's coordinate manager: the
two 3^3 submanifold convolutions of a block share one kernel map, the transposed
convolution of a decoder level reuses the coordinates of the matching encoder level.

# Ref: MinkowskiEngine MinkUNet18 (Choy et al. 2019); SparseConvNet U-Net (Graham et al.).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

from .errors import ConfigError
from .rulebook import ConvSpec, KernelMap, build_kernel_map, downsample_coords

__all__ = [
    "LayerSpec",
    "Network",
    "NETWORKS",
    "get_network",
    "network_names",
    "load_network",
    "network_from_dict",
    "parse_conv",
    "CoordinateManager",
    "LayerPlan",
    "INPUT",
]

#: Name of the network's input tensor.
INPUT = "input"


@dataclass(frozen=True)
class LayerSpec:
    """One sparse convolution of a network.

    Parameters
    ----------
    name : str
        Unique layer name (also the name of the tensor it writes).
    conv : ConvSpec
        Kind, kernel, stride, dilation.
    inputs : tuple of str
        Tensors read, concatenated along channels in this order.
    cout : int
        Output channels.
    relu : bool
        ReLU after requantization.
    residual : tuple of str
        Tensors (concatenated) added to the result before the ReLU, through one extra
        centre-offset weight plane (identity or 1x1 projection); empty for none.
    """

    name: str
    conv: ConvSpec
    inputs: tuple[str, ...]
    cout: int
    relu: bool = True
    residual: tuple[str, ...] = ()


@dataclass(frozen=True)
class Network:
    """A network: layers in execution order over named tensors.

    ``channels[t]`` and ``strides[t]`` give each tensor's channel count and tensor stride
    (derived and checked at construction).
    """

    name: str
    in_channels: int
    layers: tuple[LayerSpec, ...]
    description: str = ""
    channels: dict[str, int] = field(default_factory=dict, compare=False)
    strides: dict[str, int] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        channels = {INPUT: self.in_channels}
        strides = {INPUT: 1}
        for layer in self.layers:
            if layer.name in channels:
                raise ConfigError(f"network {self.name}: duplicate tensor name {layer.name!r}")
            for name in layer.inputs + layer.residual:
                if name not in channels:
                    raise ConfigError(
                        f"network {self.name}: layer {layer.name} reads {name!r} before it is made"
                    )
            in_strides = {strides[n] for n in layer.inputs}
            if len(in_strides) != 1:
                raise ConfigError(
                    f"network {self.name}: layer {layer.name} concatenates tensors of "
                    f"different strides {sorted(in_strides)}"
                )
            s = in_strides.pop()
            c = layer.conv
            if c.kind == "strided":
                out_s = s * c.stride
            elif c.kind == "transposed":
                if s % c.stride:
                    raise ConfigError(
                        f"network {self.name}: layer {layer.name} upsamples "
                        f"stride {s} by {c.stride}"
                    )
                out_s = s // c.stride
            else:
                out_s = s
            if any(strides[n] != out_s for n in layer.residual):
                raise ConfigError(
                    f"network {self.name}: residual {layer.residual} of "
                    f"{layer.name} has the wrong stride"
                )
            if layer.cout <= 0:
                raise ConfigError(f"network {self.name}: layer {layer.name} has cout {layer.cout}")
            channels[layer.name] = layer.cout
            strides[layer.name] = out_s
        object.__setattr__(self, "channels", channels)
        object.__setattr__(self, "strides", strides)

    def cin(self, layer: LayerSpec) -> int:
        """Input channels of a layer (its concatenated inputs)."""
        return sum(self.channels[n] for n in layer.inputs)

    def residual_channels(self, layer: LayerSpec) -> int:
        """Channels of a layer's residual input (0 without one)."""
        return sum(self.channels[n] for n in layer.residual)

    def in_stride(self, layer: LayerSpec) -> int:
        """Tensor stride of a layer's input."""
        return self.strides[layer.inputs[0]]

    def out_stride(self, layer: LayerSpec) -> int:
        """Tensor stride of a layer's output."""
        return self.strides[layer.name]

    @property
    def output(self) -> str:
        """Name of the final tensor."""
        return self.layers[-1].name


# --------------------------------------------------------------------------- builders
class _Builder:
    def __init__(self):
        self.layers: list[LayerSpec] = []

    def conv(self, name, inputs, cout, kind="submanifold", k=3, s=1, relu=True, residual=()):
        if isinstance(inputs, str):
            inputs = (inputs,)
        if isinstance(residual, str):
            residual = (residual,)
        self.layers.append(
            LayerSpec(name, ConvSpec(kind, k, s), tuple(inputs), cout, relu, tuple(residual))
        )
        return name

    def basic_block(self, name, x, cout):
        """ResNet basic block: subm3 -> ReLU -> subm3 (+ x) -> ReLU."""
        a = self.conv(f"{name}a", x, cout)
        return self.conv(f"{name}b", a, cout, residual=x)


def _unet(
    name: str,
    in_channels: int,
    stem: int,
    enc: tuple[int, ...],
    dec: tuple[int, ...],
    blocks: int,
    num_classes: int,
    description: str,
) -> Network:
    b = _Builder()
    x = b.conv("stem", INPUT, stem)
    skips = [x]
    width = stem
    for i, ch in enumerate(enc):
        x = b.conv(f"down{i + 1}", x, width, kind="strided", k=2, s=2)
        for j in range(blocks):
            x = b.basic_block(f"enc{i + 1}_{j}", x, ch)
        width = ch
        skips.append(x)
    skips.pop()  # the bottleneck is not a skip
    for i, ch in enumerate(dec):
        up = b.conv(f"up{i + 1}", x, ch, kind="transposed", k=2, s=2)
        skip = skips.pop()
        x = up
        for j in range(blocks):
            x = b.basic_block(f"dec{i + 1}_{j}", (x, skip) if j == 0 else x, ch)
            skip = None
        if blocks == 0:
            x = b.conv(f"dec{i + 1}", (up, skip), ch)
    b.conv("classifier", x, num_classes, k=1, relu=False)
    return Network(name, in_channels, tuple(b.layers), description)


#: Built-in networks.
NETWORKS: dict[str, Network] = {
    "minkunet18": _unet(
        "minkunet18",
        3,
        32,
        (32, 64, 128, 256),
        (256, 128, 96, 96),
        2,
        20,
        "MinkUNet18-like: stem 32, encoder 32-64-128-256 (k2s2 downs, 2 basic blocks each), "
        "decoder 256-128-96-96 (k2s2 transposed ups, skip concatenation, 2 blocks each), "
        "1x1 classifier to 20 classes (ScanNet).",
    ),
    "unet-small": _unet(
        "unet-small",
        3,
        16,
        (16, 32),
        (32, 16),
        1,
        20,
        "A small U-Net for tests: stem 16, two levels 16-32, one basic block per level.",
    ),
    "unet-tiny": _unet(
        "unet-tiny",
        3,
        8,
        (8,),
        (8,),
        0,
        4,
        "The smallest U-Net: stem 8, one level (k2s2 down, subm3, k2s2 up, concat, subm3).",
    ),
}


def network_names() -> list[str]:
    """Names of the built-in networks."""
    return sorted(NETWORKS)


def get_network(name: str) -> Network:
    """A built-in network by name, or a user-defined one from a ``.yaml``/``.yml``/``.json``
    file (:func:`load_network`); one-line :class:`ConfigError` when unknown."""
    if name in NETWORKS:
        return NETWORKS[name]
    if name.lower().endswith((".yaml", ".yml", ".json")):
        return load_network(name)
    raise ConfigError(
        f"unknown network {name!r} (known: {', '.join(network_names())}, or a .yaml/.json file)"
    )


_CONV_RE = re.compile(r"^(subm|conv|deconv)(\d+)(?:s(\d+))?(?:d(\d+))?$")
_CONV_KINDS = {"subm": "submanifold", "conv": "strided", "deconv": "transposed"}
_LAYER_KEYS = {"name", "conv", "inputs", "cout", "relu", "residual"}


def parse_conv(text: str) -> ConvSpec:
    """A :class:`ConvSpec` from its short name (``subm3``, ``conv2s2``, ``deconv2s2``,
    ``subm3d2``: the form of :meth:`ConvSpec.describe`)."""
    m = _CONV_RE.match(str(text))
    if not m:
        raise ConfigError(
            f"bad convolution {text!r} (expected submK, convKsS or deconvKsS, optionally dD)"
        )
    kind, k, stride, dil = m.groups()
    return ConvSpec(_CONV_KINDS[kind], int(k), int(stride or 1), int(dil or 1))


def _names(value, where: str, key: str) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise ConfigError(f"{where}: {key} must be a tensor name or a list of names, not {value!r}")


def network_from_dict(data, source: str = "network") -> Network:
    """Build a :class:`Network` from plain data (what :func:`load_network` reads).

    ``{"name", "in_channels", "description" (optional), "layers": [{"name", "conv", "inputs",
    "cout", "relu" (default true), "residual" (optional)}, ...]}``; ``conv`` as in
    :func:`parse_conv`, ``inputs``/``residual`` a tensor name or a list (``input`` is the
    network's input).  Every mistake is a one-line :class:`ConfigError` naming the layer.
    """
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: expected a mapping with name, in_channels and layers")
    unknown = sorted(set(data) - {"name", "in_channels", "description", "layers"})
    if unknown:
        raise ConfigError(f"{source}: unknown key {unknown[0]!r}")
    for key in ("name", "in_channels", "layers"):
        if key not in data:
            raise ConfigError(f"{source}: missing {key!r}")
    name, cin, layers = data["name"], data["in_channels"], data["layers"]
    if not isinstance(name, str) or not name:
        raise ConfigError(f"{source}: name must be a non-empty string, not {name!r}")
    if isinstance(cin, bool) or not isinstance(cin, int) or cin <= 0:
        raise ConfigError(f"{source}: in_channels must be a positive integer, not {cin!r}")
    if not isinstance(layers, list) or not layers:
        raise ConfigError(f"{source}: layers must be a non-empty list")
    specs = []
    for n, entry in enumerate(layers, 1):
        where = f"{source}: layer {n}"
        if not isinstance(entry, dict):
            raise ConfigError(f"{where}: expected a mapping, not {entry!r}")
        if isinstance(entry.get("name"), str):
            where += f" ({entry['name']})"
        unknown = sorted(set(entry) - _LAYER_KEYS)
        if unknown:
            raise ConfigError(f"{where}: unknown key {unknown[0]!r}")
        for key in ("name", "conv", "inputs", "cout"):
            if key not in entry:
                raise ConfigError(f"{where}: missing {key!r}")
        if not isinstance(entry["name"], str) or not entry["name"]:
            raise ConfigError(f"{where}: name must be a non-empty string")
        cout = entry["cout"]
        if isinstance(cout, bool) or not isinstance(cout, int) or cout <= 0:
            raise ConfigError(f"{where}: cout must be a positive integer, not {cout!r}")
        relu = entry.get("relu", True)
        if not isinstance(relu, bool):
            raise ConfigError(f"{where}: relu must be true or false, not {relu!r}")
        try:
            conv = parse_conv(entry["conv"])
        except ConfigError as exc:
            raise ConfigError(f"{where}: {exc}") from None
        residual = _names(entry["residual"], where, "residual") if "residual" in entry else ()
        specs.append(
            LayerSpec(
                entry["name"],
                conv,
                _names(entry["inputs"], where, "inputs"),
                cout,
                relu,
                residual,
            )
        )
    return Network(name, cin, tuple(specs), str(data.get("description", "")))


def load_network(path: str) -> Network:
    """Read a user-defined network from a ``.json`` or ``.yaml``/``.yml`` file."""
    import json

    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
    except FileNotFoundError:
        raise ConfigError(f"no such network file: {path}") from None
    if path.lower().endswith(".json"):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"network file {path} is not valid JSON: {exc.msg}") from None
    else:
        try:
            import yaml
        except ImportError:  # pragma: no cover - PyYAML is a dev dependency
            raise ConfigError(f"reading {path} needs PyYAML; write the network as JSON") from None
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            line = getattr(getattr(exc, "problem_mark", None), "line", None)
            at = f" (line {line + 1})" if line is not None else ""
            raise ConfigError(f"network file {path} is not valid YAML{at}") from None
    return network_from_dict(data, f"network file {path}")


# --------------------------------------------------------------------------- coordinates
@dataclass(frozen=True, eq=False)
class LayerPlan:
    """A layer bound to a scene: its kernel map and sizes."""

    layer: LayerSpec
    kmap: KernelMap
    cin: int
    residual_channels: int
    in_coords: np.ndarray
    out_coords: np.ndarray

    @property
    def macs(self) -> int:
        """Multiply-accumulates: pairs x Cin x Cout, plus the residual plane."""
        res = len(self.out_coords) * self.residual_channels * self.layer.cout
        return self.kmap.n_pairs * self.cin * self.layer.cout + res

    def row(self) -> dict:
        """Figures for a per-layer table."""
        return {
            "layer": self.layer.name,
            "conv": self.layer.conv.describe(),
            "cin": self.cin,
            "cout": self.layer.cout,
            "in_stride": self.kmap.in_stride,
            "out_stride": self.kmap.out_stride,
            "voxels": self.kmap.n_in,
            "outputs": self.kmap.n_out,
            "pairs": self.kmap.n_pairs,
            "arf": self.kmap.arf,
            "macs": self.macs,
        }


class CoordinateManager:
    """Coordinates of every stride level of one scene, and cached kernel maps.

    Parameters
    ----------
    coords : ndarray (N, 4) int32
        The stride-1 voxels (raster order, or any fixed order: every level keeps the order
        its constructor gives it - downsampled levels are in raster order).
    """

    def __init__(self, coords: np.ndarray):
        self._coords = {1: np.asarray(coords, dtype=np.int32)}
        self._maps: dict[tuple, tuple[KernelMap, np.ndarray]] = {}

    def coords(self, stride: int) -> np.ndarray:
        """Coordinates at a tensor stride (a power of two), built from the level below."""
        if stride not in self._coords:
            if stride < 2 or stride & (stride - 1):
                raise ConfigError(f"tensor stride must be a power of two, not {stride}")
            self._coords[stride] = downsample_coords(self.coords(stride // 2), stride)
        return self._coords[stride]

    def set_coords(self, stride: int, coords: np.ndarray) -> None:
        """Replace the coordinates of a level (e.g. reordered); drops cached maps."""
        self._coords[stride] = np.asarray(coords, dtype=np.int32)
        self._maps = {k: v for k, v in self._maps.items() if stride not in k[1:]}

    def kernel_map(self, spec: ConvSpec, in_stride: int) -> KernelMap:
        """The kernel map of ``spec`` applied at ``in_stride`` (built once)."""
        if spec.kind == "strided":
            out_stride = in_stride * spec.stride
        elif spec.kind == "transposed":
            out_stride = in_stride // spec.stride
        else:
            out_stride = in_stride
        key = (spec, in_stride, out_stride)
        if key not in self._maps:
            in_c = self.coords(in_stride)
            if spec.kind == "submanifold":
                kmap, out = build_kernel_map(in_c, spec, in_stride)
            else:
                kmap, out = build_kernel_map(in_c, spec, in_stride, self.coords(out_stride))
            self._maps[key] = (kmap, out)
        return self._maps[key][0]

    def plan(self, network: Network) -> list[LayerPlan]:
        """Bind every layer of ``network`` to this scene."""
        plans = []
        for layer in network.layers:
            s_in = network.in_stride(layer)
            kmap = self.kernel_map(layer.conv, s_in)
            res = network.residual_channels(layer)
            plans.append(
                LayerPlan(
                    layer,
                    kmap,
                    network.cin(layer),
                    res,
                    self.coords(s_in),
                    self.coords(kmap.out_stride),
                )
            )
        return plans
