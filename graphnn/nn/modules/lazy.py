"""Lazy modules: sizes inferred from the first input, then the module becomes the ordinary
class (``LazyLinear`` -> ``Linear``), as in PyTorch.

A lazy module holds ``UninitializedParameter``/``UninitializedBuffer`` placeholders whose
shape raises until ``materialize(shape)``. Its first call (or ``load_state_dict``) fills
them; the first call then swaps ``__class__`` to ``cls_to_become``."""
from __future__ import annotations

from graphnn._errors import _PLAIN as _PLAIN_ERRORS, add_context, tensor_arguments
from graphnn.autograd import no_grad
from graphnn.nn.modules.batchnorm import BatchNorm1d, BatchNorm2d, BatchNorm3d, _BatchNorm
from graphnn.nn.modules.conv import Conv1d, Conv2d, Conv3d
from graphnn.nn.modules.linear import Linear
from graphnn.nn.parameter import UninitializedBuffer, UninitializedParameter, is_lazy
from graphnn.ir.types import int64


class LazyModuleMixin:
    """Mixin for modules whose parameters are created on the first call
    (``torch.nn.modules.lazy.LazyModuleMixin``). Subclasses implement
    ``initialize_parameters(*args, **kwargs)``."""

    cls_to_become = None

    def has_uninitialized_params(self) -> bool:
        """True while any own parameter or buffer is still uninitialized."""
        return any(is_lazy(t) for t in list(self._parameters.values()) +
                   list(self._buffers.values()))

    def initialize_parameters(self, *args, **kwargs) -> None:
        raise NotImplementedError(f"initialize_parameters is not implemented for "
                                  f"{self.__class__.__name__}")

    def __call__(self, *args, **kwargs):
        if isinstance(self, LazyModuleMixin):
            with no_grad():
                try:
                    self.initialize_parameters(*args, **kwargs)
                except _PLAIN_ERRORS as e:
                    add_context(e, self._get_name(), tensor_arguments(self.forward, args,
                                                                      kwargs))
                    raise
            if self.has_uninitialized_params():
                raise RuntimeError(f"module {self._get_name()} has not been fully initialized")
            if self.cls_to_become is not None:
                self.__class__ = self.cls_to_become
                return self(*args, **kwargs)
        return super().__call__(*args, **kwargs)


class LazyLinear(LazyModuleMixin, Linear):
    """``Linear`` whose ``in_features`` is input.shape[-1] of the first call.
    ``LazyLinear(out_features, bias=True)``."""

    cls_to_become = Linear

    def __init__(self, out_features: int, bias: bool = True, device=None, dtype=None):
        super().__init__(0, 0, False)
        self.weight = UninitializedParameter(dtype=dtype)
        self.out_features = out_features
        if bias:
            self.bias = UninitializedParameter(dtype=dtype)

    def reset_parameters(self) -> None:
        if not self.has_uninitialized_params() and self.in_features != 0:
            super().reset_parameters()

    def initialize_parameters(self, input) -> None:
        if self.has_uninitialized_params():
            self.in_features = input.shape[-1]
            self.weight.materialize((self.out_features, self.in_features))
            if self.bias is not None:
                self.bias.materialize((self.out_features,))
            self.reset_parameters()
        if self.in_features == 0:       # parameters came from load_state_dict
            if input.shape[-1] != self.weight.shape[-1]:
                raise AssertionError(f"The in_features inferred from input: {input.shape[-1]} "
                                     "is not equal to in_features from self.weight: "
                                     f"{self.weight.shape[-1]}")
            self.in_features = input.shape[-1]


class _LazyConvXdMixin(LazyModuleMixin):
    _spatial = 2

    def _lazy_init(self, out_channels, kernel_size, stride, padding, dilation, groups, bias,
                   padding_mode, dtype):
        super().__init__(0, 0, kernel_size, stride, padding, dilation, groups, False,
                         padding_mode, dtype=dtype)
        self.weight = UninitializedParameter(dtype=dtype)
        self.out_channels = out_channels
        if bias:
            self.bias = UninitializedParameter(dtype=dtype)

    def reset_parameters(self) -> None:
        if not self.has_uninitialized_params() and self.in_channels != 0:
            super().reset_parameters()

    def _get_in_channels(self, input) -> int:
        no_batch = self._spatial + 1
        if input.dim() not in (no_batch, no_batch + 1):
            raise RuntimeError(f"Expected {no_batch}D (unbatched) or {no_batch + 1}D (batched) "
                               f"input to {self.__class__.__name__}, but got input of size: "
                               f"{input.shape}")
        return input.shape[1] if input.dim() == no_batch + 1 else input.shape[0]

    def initialize_parameters(self, input, *args, **kwargs) -> None:
        if self.has_uninitialized_params():
            self.in_channels = self._get_in_channels(input)
            if self.in_channels % self.groups != 0:
                raise ValueError("in_channels must be divisible by groups")
            self.weight.materialize((self.out_channels, self.in_channels // self.groups,
                                     *self.kernel_size))
            if self.bias is not None:
                self.bias.materialize((self.out_channels,))
            self.reset_parameters()


def _lazy_conv(name: str, base, spatial: int):
    def __init__(self, out_channels: int, kernel_size, stride=1, padding=0, dilation=1,
                 groups: int = 1, bias: bool = True, padding_mode: str = "zeros", device=None,
                 dtype=None):
        self._lazy_init(out_channels, kernel_size, stride, padding, dilation, groups, bias,
                        padding_mode, dtype)

    doc = (f"``{base.__name__}`` whose ``in_channels`` comes from the first input "
           f"(dim 1 when batched, else dim 0). ``{name}(out_channels, kernel_size, stride=1, "
           "padding=0, dilation=1, groups=1, bias=True, padding_mode='zeros')``.")
    return type(name, (_LazyConvXdMixin, base), {"__init__": __init__, "cls_to_become": base,
                                                   "_spatial": spatial, "__doc__": doc,
                                                   "__module__": __name__})


LazyConv1d = _lazy_conv("LazyConv1d", Conv1d, 1)
LazyConv2d = _lazy_conv("LazyConv2d", Conv2d, 2)
LazyConv3d = _lazy_conv("LazyConv3d", Conv3d, 3)


class _LazyNormBase(LazyModuleMixin, _BatchNorm):
    def __init__(self, eps=1e-5, momentum=0.1, affine=True, track_running_stats=True,
                 device=None, dtype=None, *, bias=True):
        super().__init__(0, eps, momentum, False, False, dtype=dtype, bias=False)
        self.affine = affine
        self.track_running_stats = track_running_stats
        if self.affine:
            self.weight = UninitializedParameter(dtype=dtype)
            if bias:
                self.bias = UninitializedParameter(dtype=dtype)
        if self.track_running_stats:
            from graphnn._creation import tensor
            self.running_mean = UninitializedBuffer(dtype=dtype)
            self.running_var = UninitializedBuffer(dtype=dtype)
            self.num_batches_tracked = tensor(0, dtype=int64)

    def reset_parameters(self) -> None:
        if not self.has_uninitialized_params() and self.num_features != 0:
            super().reset_parameters()

    def initialize_parameters(self, input) -> None:
        if self.has_uninitialized_params():
            self.num_features = input.shape[1]
            if self.affine:
                self.weight.materialize((self.num_features,))
                if self.bias is not None:
                    self.bias.materialize((self.num_features,))
            if self.track_running_stats:
                self.running_mean.materialize((self.num_features,))
                self.running_var.materialize((self.num_features,))
            self.reset_parameters()


def _lazy_bn(name: str, base):
    doc = (f"``{base.__name__}`` whose ``num_features`` is input.shape[1] of the first call. "
           f"``{name}(eps=1e-5, momentum=0.1, affine=True, track_running_stats=True, *, "
           "bias=True)``.")
    return type(name, (_LazyNormBase, base), {"cls_to_become": base, "__doc__": doc,
                                               "__module__": __name__})


LazyBatchNorm1d = _lazy_bn("LazyBatchNorm1d", BatchNorm1d)
LazyBatchNorm2d = _lazy_bn("LazyBatchNorm2d", BatchNorm2d)
LazyBatchNorm3d = _lazy_bn("LazyBatchNorm3d", BatchNorm3d)
