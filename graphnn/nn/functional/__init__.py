"""``graphnn.nn.functional``: every function is composed from IR primitives, so it gets
gradients, fusion and codegen for free. Composite functions called outside a traced module
(``F.cross_entropy(out, y)`` in a training loop) run as one compiled graph each.

Argument checks run before anything is traced or launched and raise PyTorch's error types
with its wording, prefixed by the module path when called inside a module.

One module per layer family: ``activation``, ``conv`` (linear), ``conv_nd`` (convolution),
``pad``, ``pooling`` and ``pooling_avg``, ``upsample``, ``loss``, ``norm``, ``dropout``,
``sparse``, ``distance``; ``_base`` holds what they share."""
from __future__ import annotations

from graphnn._tensor import Tensor
from graphnn.nn.functional._base import (_iota, _maybe_inplace, _pair, _where,  # noqa
                                         graph_function)
from graphnn.nn.functional.activation import *  # noqa: F401,F403
from graphnn.nn.functional.activation import _softmax_dim  # noqa: F401
from graphnn.nn.functional.attention import *  # noqa: F401,F403
from graphnn.nn.functional.conv import *  # noqa: F401,F403
from graphnn.nn.functional.conv_nd import *  # noqa: F401,F403
from graphnn.nn.functional.ctc import *  # noqa: F401,F403
from graphnn.nn.functional.distance import *  # noqa: F401,F403
from graphnn.nn.functional.dropout import *  # noqa: F401,F403
from graphnn.nn.functional.loss import *  # noqa: F401,F403
from graphnn.nn.functional.loss import _nll, _reduce  # noqa: F401
from graphnn.nn.functional.loss_pointwise import *  # noqa: F401,F403
from graphnn.nn.functional.norm import *  # noqa: F401,F403
from graphnn.nn.functional.pad import *  # noqa: F401,F403
from graphnn.nn.functional.pooling import *  # noqa: F401,F403
from graphnn.nn.functional.pooling_avg import *  # noqa: F401,F403
from graphnn.nn.functional.shape import *  # noqa: F401,F403
from graphnn.nn.functional.sparse import *  # noqa: F401,F403
from graphnn.nn.functional.upsample import *  # noqa: F401,F403
from graphnn.nn.functional.activation import log_softmax, softmax

from graphnn._errors import wrap_public  # noqa: E402

# errors of every public function name it and its tensor arguments' shapes
wrap_public(globals(), "graphnn.nn.functional", skip={"graph_function"})

Tensor.softmax = lambda self, dim, dtype=None: softmax(self, dim, dtype=dtype)
Tensor.log_softmax = lambda self, dim, dtype=None: log_softmax(self, dim, dtype=dtype)
