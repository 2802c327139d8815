"""``graphnn.nn``: PyTorch's module API; models compile to OpenCL when called."""
from graphnn.nn import functional, init
from graphnn.nn.module import Module
from graphnn.nn.modules import *  # noqa: F401,F403
from graphnn.nn.modules import __all__ as _modules_all
from graphnn.nn.parameter import (Buffer, Parameter, UninitializedBuffer,
                                  UninitializedParameter)
from graphnn.nn import utils  # noqa: E402
from graphnn.nn import parallel  # noqa: E402

__all__ = ["Buffer", "Module", "Parameter", "UninitializedParameter", "UninitializedBuffer", "functional",
           "init", "parallel", "utils"] + list(_modules_all)
