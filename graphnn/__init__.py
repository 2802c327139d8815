"""graphnn: a PyTorch-compatible nn library that is also a compiler.

``import graphnn as torch``: models written for ``torch.nn`` trace into a dataflow IR,
get gradients from that IR, fuse, and run as generated OpenCL kernels on any device."""
from graphnn import ir as _ir  # noqa: F401  (registers the op set)
from graphnn._creation import (arange, empty, from_numpy, full, full_like, linspace,
                               manual_seed, ones, ones_like, tensor, zeros, zeros_like)
from graphnn._creation import (BFloat16Tensor, BoolTensor, DoubleTensor,  # noqa
                               FloatTensor, HalfTensor, IntTensor, LongTensor)
from graphnn._device import device
from graphnn._size import Size
from graphnn._tensor import Tensor
from graphnn import _views, _ops, _inplace, _index, _sort, _composites  # noqa: E402,F401
from graphnn.autograd import enable_grad, is_grad_enabled, no_grad, set_grad_enabled
from graphnn.ir.types import DType as dtype
from graphnn.ir.types import bool_ as bool
from graphnn.ir.types import bfloat16, float16, float32, float64, int32, int64
from graphnn import autograd, nn, optim  # noqa: E402
from graphnn import _random  # noqa: E402  (after nn: it uses nn.functional)
from graphnn._random import (bernoulli, multinomial, normal, rand, rand_like,  # noqa: E402
                             randint, randint_like, randn, randn_like, randperm)
from graphnn._stats import Stats, reset_stats, stats  # noqa: E402
from graphnn import cuda, distributions  # noqa: E402
from graphnn import utils  # noqa: E402
from graphnn import distributed  # noqa: E402
from graphnn.serialization import load, save  # noqa: E402
from graphnn._step import compile  # noqa: E402  (a whole training step as one graph)
from graphnn.runtime.buffers import OutOfMemoryError  # noqa: E402

_random.install(Tensor)
from graphnn import _math  # noqa: E402  (after nn: its composites are graph functions)
from graphnn._math import *  # noqa: E402,F401,F403  (erf, fmod, floor_, ...)
_math.install(Tensor)
globals().update(_math.ACTIVATIONS)   # torch.selu, torch.relu_ ...

float = float32
double = float64
half = float16
long = int64
int = int32

# functional forms of tensor ops (torch.add, torch.matmul, torch.relu ...)
add, sub, mul, div, matmul, mm, bmm = (_ops.add, _ops.sub, _ops.mul, _ops.div, _ops.matmul,
                                      _ops.mm, _ops.bmm)
exp, log, tanh, sigmoid, relu, sqrt, abs = (_ops.exp, _ops.log, _ops.tanh, _ops.sigmoid,
                                            _ops.relu, _ops.sqrt, _ops.abs)
sin, cos, masked_fill, addcmul, addcdiv, lerp = (_ops.sin, _ops.cos, _ops.masked_fill,
                                                _ops.addcmul, _ops.addcdiv, _ops.lerp)
var, std, norm = _ops.var, _ops.std, _ops.norm
from graphnn._composites import (all, any, count_nonzero, cumsum, diag, diagonal,  # noqa
                                 einsum, eye, flip, isin, outer, roll, tile, tril, triu)
clamp, clip, maximum, minimum, where, pow = (_ops.clamp, _ops.clamp, _ops.maximum,
                                             _ops.minimum, _ops.where, _ops.pow)
sum, mean, max, min, argmax, argmin, amax, amin = (_ops.sum, _ops.mean, _ops.max, _ops.min,
                                                   _ops.argmax, _ops.argmin, _ops.amax,
                                                   _ops.amin)
reshape, flatten, permute, transpose, t, unsqueeze, squeeze = (
    _ops.reshape, _ops.flatten, _ops.permute, _ops.transpose, _ops.t, _ops.unsqueeze,
    _ops.squeeze)
cat, concat, stack, split, chunk = _ops.cat, _ops.cat, _ops.stack, _ops.split, _ops.chunk
narrow, select, unbind, swapaxes = _ops.narrow, _ops.select, _ops.unbind, _ops.transpose
gather, index_select, neg, sign, rsqrt, square = (
    _ops.gather, _ops.index_select, _ops.neg, _ops.sign, _ops.rsqrt, _ops.square)
scatter_add, scatter, index_add, index_copy, index_fill, index_put = (
    _index.scatter_add, _index.scatter, _index.index_add, _index.index_copy, _index.index_fill,
    _index.index_put)
index_put_ = _index.index_put_
sort, argsort, topk = _sort.sort, _sort.argsort, _sort.topk


def softmax(input, dim, dtype=None):
    return nn.functional.softmax(input, dim, dtype=dtype)


def log_softmax(input, dim, dtype=None):
    return nn.functional.log_softmax(input, dim, dtype=dtype)


def is_tensor(obj) -> bool:
    return isinstance(obj, Tensor)


def numel(t) -> int:
    return t.numel()


from graphnn._errors import wrap_public as _wrap_public  # noqa: E402

# errors of every public function name it and its tensor arguments' shapes
_wrap_public(globals(), "graphnn", skip={"load", "save", "manual_seed", "is_tensor", "numel",
                                         "stats", "reset_stats"})

__version__ = "0.1.0"

from graphnn import dump  # noqa: E402  (callable: graphnn.dump(model, *example_inputs))
