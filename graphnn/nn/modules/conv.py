"""Convolution layers."""
from __future__ import annotations

import math

from graphnn import _creation
from graphnn.nn import functional as F
from graphnn.nn import init
from graphnn.nn.module import Module
from graphnn.nn.parameter import Parameter


def _ntuple(v, n: int) -> tuple:
    if isinstance(v, (tuple, list)):
        if len(v) == 1:
            return (int(v[0]),) * n
        if len(v) != n:
            raise ValueError(f"expected an int or {n} ints, got {v}")
        return tuple(int(x) for x in v)
    return (int(v),) * n


class _ConvNd(Module):
    """What Conv1d/2d/3d share: constructor, attributes, initialisation and repr.
    weight (C_out, C_in/groups, *kernel) and bias (C_out,) ~ U(-1/sqrt(fan_in),
    1/sqrt(fan_in)) with fan_in = C_in/groups * prod(kernel) (PyTorch's _ConvNd)."""

    _n = 2

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0,
                 dilation=1, groups: int = 1, bias: bool = True, padding_mode: str = "zeros",
                 device=None, dtype=None):
        Module.__init__(self)
        n = self._n
        if groups <= 0:
            raise ValueError("groups must be a positive integer")
        if in_channels % groups != 0:
            raise ValueError("in_channels must be divisible by groups")
        if out_channels % groups != 0:
            raise ValueError("out_channels must be divisible by groups")
        if padding_mode != "zeros":
            raise NotImplementedError(f"padding_mode={padding_mode!r} is not supported yet")
        if isinstance(padding, str) and padding not in ("valid", "same"):
            raise ValueError(f"Invalid padding string '{padding}', should be one of "
                             "{'valid', 'same'}")
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.kernel_size = _ntuple(kernel_size, n)
        self.stride = _ntuple(stride, n)
        self.padding = padding if isinstance(padding, str) else _ntuple(padding, n)
        self.dilation = _ntuple(dilation, n)
        self.transposed = False
        self.output_padding = (0,) * n
        self.groups = groups
        self.padding_mode = padding_mode
        self.weight = Parameter(_creation.empty(
            (out_channels, in_channels // groups) + self.kernel_size, dtype=dtype))
        if bias:
            self.bias = Parameter(_creation.empty((out_channels,), dtype=dtype))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def _padding(self) -> tuple:
        if self.padding == "valid":
            return (0,) * self._n
        if self.padding == "same":
            if self.stride != (1,) * self._n:
                raise ValueError("padding='same' is not supported for strided convolutions")
            total = [d * (k - 1) for d, k in zip(self.dilation, self.kernel_size)]
            if any(t % 2 for t in total):
                raise NotImplementedError("padding='same' with an even kernel is not supported")
            return tuple(t // 2 for t in total)
        return self.padding

    def reset_parameters(self) -> None:
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in, _ = init._calculate_fan_in_and_fan_out(self.weight)
            if fan_in != 0:
                bound = 1 / math.sqrt(fan_in)
                init.uniform_(self.bias, -bound, bound)

    def extra_repr(self) -> str:
        s = (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
             f"stride={self.stride}")
        if self.padding != (0,) * len(self.kernel_size):
            s += f", padding={self.padding}"
        if self.dilation != (1,) * len(self.dilation):
            s += f", dilation={self.dilation}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        if self.padding_mode != "zeros":
            s += f", padding_mode={self.padding_mode}"
        return s


class Conv2d(_ConvNd):
    """2-D convolution. Input (N, C_in, H, W) or (C_in, H, W) -> (N, C_out, H_out, W_out)
    with H_out = floor((H + 2*padding - dilation*(kH-1) - 1) / stride + 1)."""

    _n = 2

    def forward(self, input):
        return F.conv2d(input, self.weight, self.bias, self.stride, self.padding,
                        self.dilation, self.groups)


class Conv1d(_ConvNd):
    """1-D convolution, run as a 2-D convolution over (N, C, 1, L). Input (N, C_in, L) or
    (C_in, L) -> (N, C_out, L_out); weight (C_out, C_in/groups, k), bias (C_out,)."""

    _n = 1

    def forward(self, input):
        from graphnn import _ops
        if input.dim() not in (2, 3):
            raise RuntimeError(f"Expected 2D (unbatched) or 3D (batched) input to conv1d, but "
                               f"got input of size: {list(input.shape)}")
        # one reshape in, one out: (N, C, L) -> (N, C, 1, L), unbatched (C, L) -> (1, C, 1, L)
        lead = tuple(input.shape[:-2]) if input.dim() == 3 else (1,)
        x = _ops.reshape(input, lead + (input.shape[-2], 1, input.shape[-1]))
        w = _ops.unsqueeze(self.weight, 2)
        out = F.conv2d(x, w, self.bias, (1, self.stride[0]), (0, self._padding()[0]),
                       (1, self.dilation[0]), self.groups)
        keep = tuple(out.shape[:2]) if input.dim() == 3 else (out.shape[1],)
        return _ops.reshape(out, keep + (out.shape[-1],))


class Conv3d(_ConvNd):
    """3-D convolution, composed from 2-D convolutions: one per depth tap, summed. Input
    (N, C_in, D, H, W) or (C_in, D, H, W) -> (N, C_out, D_out, H_out, W_out); weight
    (C_out, C_in/groups, kD, kH, kW), bias (C_out,)."""

    _n = 3

    def forward(self, input):
        from graphnn import _ops
        from graphnn._dispatch import apply
        if input.dim() not in (4, 5):
            raise RuntimeError(f"Expected 4D (unbatched) or 5D (batched) input to conv3d, but "
                               f"got input of size: {list(input.shape)}")
        unbatched = input.dim() == 4
        x = _ops.unsqueeze(input, 0) if unbatched else input
        n, c, d, h, w = x.shape
        (kd, _, _), (sd, sh, sw) = self.kernel_size, self.stride
        (pd, ph, pw), (dd, dh, dw) = self._padding(), self.dilation
        if pd:
            d += 2 * pd
            x = apply("slice_grad", x, shape=(n, c, d, h, w), starts=(0, 0, pd, 0, 0),
                      steps=(1, 1, 1, 1, 1))
        d_out = (d - dd * (kd - 1) - 1) // sd + 1
        if d_out <= 0:
            raise RuntimeError(f"Calculated padded input size per channel: ({d} x {h} x {w}). "
                               f"Kernel size: ({dd * (kd - 1) + 1} x ...). Kernel size can't "
                               "be greater than actual input size")
        total = None
        for k in range(kd):
            start = k * dd
            xs = x[:, :, start:start + sd * (d_out - 1) + 1:sd]          # (N, C, Do, H, W)
            xs = _ops.reshape(_ops.permute(xs, (0, 2, 1, 3, 4)), (n * d_out, c, h, w))
            y = F.conv2d(xs, self.weight[:, :, k], None, (sh, sw), (ph, pw), (dh, dw),
                         self.groups)
            total = y if total is None else total + y
        ho, wo = total.shape[2], total.shape[3]
        out = _ops.permute(_ops.reshape(total, (n, d_out, self.out_channels, ho, wo)),
                           (0, 2, 1, 3, 4))
        if self.bias is not None:
            out = out + _ops.reshape(self.bias, (1, -1, 1, 1, 1))
        return _ops.squeeze(out, 0) if unbatched else out
