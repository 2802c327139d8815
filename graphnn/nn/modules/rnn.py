"""Recurrent layers: RNN (tanh/relu), LSTM (with ``proj_size``), GRU and their cells, with
PyTorch 2.13's arguments, parameter names (``weight_ih_l0``, ``bias_hh_l1_reverse``,
``weight_hr_l0``), shapes, init U(-1/sqrt(H), 1/sqrt(H)), layouts and return values.

The time loop is unrolled when traced. Each layer and direction projects the inputs of all
time steps with one GEMM before the loop (x W_ih^T + b_ih for (L N, H_in)), so a step is one
small GEMM (h W_hh^T) and its gate math (an RNN's and an LSTM's b_hh is added to
b_ih once, in the projection): two element-wise kernels for an LSTM (the gates read
four columns of the GEMM's output, which its epilogue cannot; launch counts in
docs/design.md, "Recurrent layers"). Packed sequences run padded with a per-step mask: a
sequence's state stops changing after its length, the reverse direction reads each sequence
backwards from its own last element."""
from __future__ import annotations

import math

from graphnn import _creation, _ops
from graphnn._composites import flip
from graphnn.nn import functional as F
from graphnn.nn import init
from graphnn.nn.module import Module
from graphnn.nn.parameter import Parameter
from graphnn.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence

_GATES = {"RNN_TANH": 1, "RNN_RELU": 1, "LSTM": 4, "GRU": 3}


def _linear(x, w, b):
    return F.linear(x, w, b)


def _cell(mode: str, xp, h, c, w_hh, b_hh, w_hr):
    """One step given the projected input ``xp`` (N, G H): the new (h, c)."""
    hp = _linear(h, w_hh, b_hh)
    if mode == "RNN_TANH":
        return _ops.tanh(xp + hp), None
    if mode == "RNN_RELU":
        return _ops.relu(xp + hp), None
    if mode == "LSTM":
        gates = xp + hp
        hs = gates.shape[-1] // 4
        i = _ops.sigmoid(gates[..., :hs])
        f = _ops.sigmoid(gates[..., hs:2 * hs])
        g = _ops.tanh(gates[..., 2 * hs:3 * hs])
        o = _ops.sigmoid(gates[..., 3 * hs:])
        c = f * c + i * g
        h = o * _ops.tanh(c)
        if w_hr is not None:
            h = _linear(h, w_hr, None)
        return h, c
    hs = xp.shape[-1] // 3        # GRU: gates (r, z, n)
    r = _ops.sigmoid(xp[..., :hs] + hp[..., :hs])
    z = _ops.sigmoid(xp[..., hs:2 * hs] + hp[..., hs:2 * hs])
    n = _ops.tanh(xp[..., 2 * hs:] + r * hp[..., 2 * hs:])
    return (1.0 - z) * n + z * h, None


class RNNBase(Module):
    def __init__(self, mode: str, input_size: int, hidden_size: int, num_layers: int = 1,
                 bias: bool = True, batch_first: bool = False, dropout: float = 0.0,
                 bidirectional: bool = False, proj_size: int = 0, device=None, dtype=None):
        super().__init__()
        if not isinstance(dropout, (int, float)) or not 0 <= dropout <= 1 or \
                isinstance(dropout, bool):
            raise ValueError("dropout should be a number in range [0, 1] representing the "
                             "probability of an element being zeroed")
        if input_size <= 0:
            raise ValueError(f"input_size must be greater than zero (got {input_size})")
        if hidden_size <= 0 or num_layers <= 0:
            raise ValueError(f"hidden_size must be greater than zero (got {hidden_size})"
                             if hidden_size <= 0 else
                             f"num_layers must be greater than zero (got {num_layers})")
        if proj_size < 0:
            raise ValueError("proj_size should be a positive integer or zero to disable "
                             "projections")
        if proj_size >= hidden_size:
            raise ValueError("proj_size has to be smaller than hidden_size")
        if dropout > 0 and num_layers == 1:
            import warnings
            warnings.warn("dropout option adds dropout after all but last recurrent layer, so "
                          "non-zero dropout expects num_layers greater than 1, but got "
                          f"dropout={dropout} and num_layers={num_layers}", stacklevel=3)
        self.mode = mode
        self.input_size, self.hidden_size = input_size, hidden_size
        self.num_layers, self.bias, self.batch_first = num_layers, bias, batch_first
        self.dropout, self.bidirectional, self.proj_size = float(dropout), bidirectional, \
            proj_size
        dirs = 2 if bidirectional else 1
        gate = _GATES[mode] * hidden_size
        real_hidden = proj_size if proj_size > 0 else hidden_size
        self._flat_weights_names = []
        for layer in range(num_layers):
            for d in range(dirs):
                size_in = input_size if layer == 0 else real_hidden * dirs
                suffix = "_reverse" if d == 1 else ""
                shapes = [("weight_ih", (gate, size_in)), ("weight_hh", (gate, real_hidden))]
                if bias:
                    shapes += [("bias_ih", (gate,)), ("bias_hh", (gate,))]
                if proj_size > 0:
                    shapes.append(("weight_hr", (proj_size, hidden_size)))
                for name, shape in shapes:
                    full = f"{name}_l{layer}{suffix}"
                    setattr(self, full, Parameter(_creation.empty(shape, dtype=dtype)))
                    self._flat_weights_names.append(full)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        stdv = 1.0 / math.sqrt(self.hidden_size) if self.hidden_size > 0 else 0
        for p in self.parameters():
            init.uniform_(p, -stdv, stdv)

    @property
    def _flat_weights(self):
        return [getattr(self, n) for n in self._flat_weights_names]

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if self.proj_size != 0:
            s += f", proj_size={self.proj_size}"
        if self.num_layers != 1:
            s += f", num_layers={self.num_layers}"
        if self.bias is not True:
            s += f", bias={self.bias}"
        if self.batch_first is not False:
            s += f", batch_first={self.batch_first}"
        if self.dropout != 0:
            s += f", dropout={self.dropout}"
        if self.bidirectional is not False:
            s += f", bidirectional={self.bidirectional}"
        return s

    def _weights(self, layer: int, d: int):
        suffix = "_reverse" if d == 1 else ""
        get = lambda n: getattr(self, f"{n}_l{layer}{suffix}", None)  # noqa: E731
        return (get("weight_ih"), get("weight_hh"), get("bias_ih"), get("bias_hh"),
                get("weight_hr"))

    def forward(self, input, hx=None):
        packed = isinstance(input, PackedSequence)
        lengths = None
        if packed:
            sorted_indices = input.sorted_indices
            padded, lengths = pad_packed_sequence(input, batch_first=False)
            x = padded
        else:
            x = input
            if x.dim() not in (2, 3):
                raise ValueError(f"{type(self).__name__}: Expected input to be 2D or 3D, got "
                                 f"{x.dim()}D instead")
        batched = packed or x.dim() == 3
        if not batched:
            x = _ops.unsqueeze(x, 1)
        elif self.batch_first and not packed:
            x = _ops.transpose(x, 0, 1)
        seq, n, size_in = x.shape
        weight = self.weight_ih_l0
        if x.dtype != weight.dtype:
            raise ValueError(f"RNN input dtype ({x.dtype!r}) does not match weight dtype "
                             f"({weight.dtype!r}). Convert input: input.to({weight.dtype!r}), "
                             f"or convert model: model.to({x.dtype!r})")
        if size_in != self.input_size:
            raise RuntimeError(f"{type(self).__name__}: input.size(-1) must be equal to "
                               f"input_size. Expected {self.input_size}, got {size_in}")
        h0, c0 = self._initial_state(hx, n, batched, x)
        out, hs, cs = self._run(x, h0, c0, lengths)
        if packed:
            output = pack_padded_sequence(out, lengths,
                                          enforce_sorted=sorted_indices is None)
        else:
            output = out if not self.batch_first or not batched else _ops.transpose(out, 0, 1)
            if not batched:
                output = _ops.squeeze(output, 1)
        h_n = _ops.stack(hs, 0)
        if not batched:
            h_n = _ops.squeeze(h_n, 1)
        if self.mode != "LSTM":
            return output, h_n
        c_n = _ops.stack(cs, 0)
        if not batched:
            c_n = _ops.squeeze(c_n, 1)
        return output, (h_n, c_n)

    def _initial_state(self, hx, n: int, batched: bool, x):
        dirs = 2 if self.bidirectional else 1
        real_hidden = self.proj_size if self.proj_size > 0 else self.hidden_size
        expect_h = (self.num_layers * dirs, n, real_hidden)
        expect_c = (self.num_layers * dirs, n, self.hidden_size)
        if hx is None:
            h0 = _creation.zeros(expect_h, dtype=x.dtype)
            c0 = _creation.zeros(expect_c, dtype=x.dtype) if self.mode == "LSTM" else None
            return h0, c0
        # PyTorch's checks and wording (RNNBase.forward, check_hidden_size): the rank for
        # the input's batching first, then each state's full shape
        rank, kind = (3, "batched 3-D") if batched else (2, "unbatched 2-D")
        if self.mode == "LSTM":
            if not isinstance(hx, (tuple, list)) or len(hx) != 2:
                raise RuntimeError("LSTM: hx must be a tuple (h_0, c_0)")
            h0, c0 = hx
            if h0.dim() != rank or c0.dim() != rank:
                raise RuntimeError(f"For {kind} input, hx and cx should also be {rank}-D but "
                                   f"got ({h0.dim()}-D, {c0.dim()}-D) tensors")
        else:
            h0, c0 = hx, None
            if h0.dim() != rank:
                raise RuntimeError(f"For {kind} input, hx should also be {rank}-D but got "
                                   f"{h0.dim()}-D tensor")
        if not batched:
            h0 = _ops.unsqueeze(h0, 1)
            c0 = _ops.unsqueeze(c0, 1) if c0 is not None else None
        label = "hidden[0]" if self.mode == "LSTM" else "hidden"
        if tuple(h0.shape) != expect_h:
            raise RuntimeError(f"Expected {label} size {expect_h}, got {list(h0.shape)}")
        if c0 is not None and tuple(c0.shape) != expect_c:
            raise RuntimeError(f"Expected hidden[1] size {expect_c}, got {list(c0.shape)}")
        return h0, c0

    def _run(self, x, h0, c0, lengths):
        dirs = 2 if self.bidirectional else 1
        seq, n = x.shape[0], x.shape[1]
        mask = None
        if lengths is not None:
            steps = _creation.arange(seq).reshape(seq, 1)
            lens = _ops.reshape(lengths, (1, n))
            mask = _ops.unsqueeze(steps < lens, -1)                        # (L, N, 1)
        hs, cs = [], []
        layer_in = x
        for layer in range(self.num_layers):
            outs = []
            for d in range(dirs):
                k = layer * dirs + d
                w_ih, w_hh, b_ih, b_hh, w_hr = self._weights(layer, d)
                src = layer_in if d == 0 else self._reverse(layer_in, lengths)
                m = mask if d == 0 or mask is None else self._reverse(mask, lengths)
                if b_hh is not None and self.mode != "GRU":
                    # both biases join the input projection: b_hh's gradient is then one
                    # sum over all steps, not a sum and an add per step (GRU's n gate
                    # scales h W_hn^T + b_hn by r, so its b_hh stays in the step)
                    b_ih, b_hh = b_ih + b_hh, None
                proj = _ops.reshape(_linear(_ops.reshape(src, (seq * n, -1)), w_ih, b_ih),
                                    (seq, n, -1))
                h = h0[k]
                c = c0[k] if c0 is not None else None
                steps = []
                for t in range(seq):
                    h_new, c_new = _cell(self.mode, proj[t], h, c, w_hh, b_hh, w_hr)
                    if m is not None:
                        h_new = _ops.where(m[t], h_new, h)
                        c_new = _ops.where(m[t], c_new, c) if c is not None else None
                        steps.append(_ops.where(m[t], h_new, 0.0))
                    else:
                        steps.append(h_new)
                    h, c = h_new, c_new
                out = _ops.stack(steps, 0)
                outs.append(out if d == 0 else self._reverse(out, lengths))
                hs.append(h)
                cs.append(c)
            layer_in = outs[0] if dirs == 1 else _ops.cat(outs, 2)
            if self.dropout and self.training and layer < self.num_layers - 1:
                layer_in = F.dropout(layer_in, self.dropout, True)
        return layer_in, hs, cs

    @staticmethod
    def _reverse(x, lengths):
        """Each sequence reversed in time within its own length (L, N, ...)."""
        seq, n = x.shape[0], x.shape[1]
        if lengths is None:
            return flip(x, 0)
        t = _creation.arange(seq).reshape(seq, 1)
        lens = _ops.reshape(lengths, (1, n))
        src = _ops.where(t < lens, lens - 1 - t, t)                        # (L, N)
        idx = _ops.expand(_ops.reshape(src, (seq, n) + (1,) * (x.dim() - 2)), tuple(x.shape))
        return _ops.gather(x, 0, idx)


class RNN(RNNBase):
    """Elman RNN: h' = tanh(x W_ih^T + b_ih + h W_hh^T + b_hh) (or relu)."""

    def __init__(self, *args, nonlinearity: str = "tanh", **kwargs):
        if len(args) > 3:
            nonlinearity = args[3]
            args = args[:3] + args[4:]
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"Unknown nonlinearity '{nonlinearity}'. Select from 'tanh' or "
                             "'relu'.")
        self.nonlinearity = nonlinearity
        super().__init__("RNN_TANH" if nonlinearity == "tanh" else "RNN_RELU", *args, **kwargs)


class LSTM(RNNBase):
    """Long short-term memory (Hochreiter & Schmidhuber 1997); gates (i, f, g, o); optional
    projection of h to ``proj_size`` (Sak et al. 2014)."""

    def __init__(self, *args, **kwargs):
        super().__init__("LSTM", *args, **kwargs)


class GRU(RNNBase):
    """Gated recurrent unit (Cho et al. 2014); gates (r, z, n)."""

    def __init__(self, *args, **kwargs):
        if "proj_size" in kwargs:
            raise ValueError("proj_size argument is only supported for LSTM, not RNN or GRU")
        super().__init__("GRU", *args, **kwargs)


class RNNCellBase(Module):
    def __init__(self, input_size: int, hidden_size: int, bias: bool, num_chunks: int,
                 device=None, dtype=None):
        super().__init__()
        self.input_size, self.hidden_size, self.bias = input_size, hidden_size, bias
        self.weight_ih = Parameter(_creation.empty((num_chunks * hidden_size, input_size),
                                                   dtype=dtype))
        self.weight_hh = Parameter(_creation.empty((num_chunks * hidden_size, hidden_size),
                                                   dtype=dtype))
        if bias:
            self.bias_ih = Parameter(_creation.empty((num_chunks * hidden_size,), dtype=dtype))
            self.bias_hh = Parameter(_creation.empty((num_chunks * hidden_size,), dtype=dtype))
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        RNNBase.reset_parameters(self)

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if self.bias is not True:
            s += f", bias={self.bias}"
        if getattr(self, "nonlinearity", "tanh") != "tanh":
            s += f", nonlinearity={self.nonlinearity}"
        return s

    def _step(self, mode, input, h, c=None):
        """One step of input (N, H_in) or (H_in,) from states (N, H) or (H,) (zeros when
        None): the new (h, c), c None but for LSTM."""
        batched = input.dim() == 2
        name = type(self).__name__
        if input.dim() not in (1, 2):
            raise ValueError(f"{name}: Expected input to be 1D or 2D, got {input.dim()}D "
                             "instead")
        states = [s for s in (h, c) if s is not None]
        for i, s in enumerate(states):
            if s.dim() not in (1, 2):
                what = f"hx[{i}]" if mode == "LSTM" else "hidden"
                raise ValueError(f"{name}: Expected {what} to be 1D or 2D, got {s.dim()}D "
                                 "instead")
        x = input if batched else _ops.unsqueeze(input, 0)
        if x.shape[1] != self.input_size:
            raise RuntimeError(f"input has inconsistent input_size: got {x.shape[1]} expected "
                               f"{self.input_size}")
        n = x.shape[0]
        zeros = lambda: _creation.zeros((n, self.hidden_size), dtype=x.dtype)  # noqa: E731
        h = zeros() if h is None else (h if batched else _ops.unsqueeze(h, 0))
        if mode == "LSTM":
            c = zeros() if c is None else (c if batched else _ops.unsqueeze(c, 0))
        for i, s in enumerate(s for s in (h, c) if s is not None):
            self._check_hidden(s, n, i)
        proj = _linear(x, self.weight_ih, self.bias_ih)
        h, c = _cell(mode, proj, h, c, self.weight_hh, self.bias_hh, None)
        if not batched:
            h = _ops.squeeze(h, 0)
            c = _ops.squeeze(c, 0) if c is not None else None
        return h, c


    def _check_hidden(self, s, n: int, i: int) -> None:
        """PyTorch's check_rnn_cell_forward_hidden on state ``i`` (N, H), before the step's
        matmul or broadcast would report it in its own terms (or broadcast it silently)."""
        if s.shape[0] != n:
            raise RuntimeError(f"Input batch size {n} doesn't match hidden{i} batch size "
                               f"{s.shape[0]}")
        if s.dim() > 1 and s.shape[1] != self.hidden_size:
            raise RuntimeError(f"hidden{i} has inconsistent hidden_size: got {s.shape[1]}, "
                               f"expected {self.hidden_size}")
        if s.dim() != 2:        # a batched input with a (H,) state, or unbatched with (N, H)
            raise RuntimeError(f"hidden{i} has inconsistent shape: got {list(s.shape)}, "
                               f"expected {[n, self.hidden_size]}")


class RNNCell(RNNCellBase):
    def __init__(self, input_size: int, hidden_size: int, bias: bool = True,
                 nonlinearity: str = "tanh", device=None, dtype=None):
        super().__init__(input_size, hidden_size, bias, 1, device, dtype)
        self.nonlinearity = nonlinearity

    def forward(self, input, hx=None):
        return self._step("RNN_TANH" if self.nonlinearity == "tanh" else "RNN_RELU", input,
                          hx)[0]


class LSTMCell(RNNCellBase):
    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, device=None,
                 dtype=None):
        super().__init__(input_size, hidden_size, bias, 4, device, dtype)

    def forward(self, input, hx=None):
        h, c = (None, None) if hx is None else hx
        return self._step("LSTM", input, h, c)


class GRUCell(RNNCellBase):
    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, device=None,
                 dtype=None):
        super().__init__(input_size, hidden_size, bias, 3, device, dtype)

    def forward(self, input, hx=None):
        return self._step("GRU", input, hx)[0]
