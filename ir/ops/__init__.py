"""The primitive op set. Importing this package registers every op."""
from graphnn.ir.ops.registry import (REGISTRY, NOT_DIFFERENTIABLE, Kind, OpDef, VJPContext,
                                     get, infer_type, register)
from graphnn.ir.ops import (elementwise, reduce, movement, nn, random,  # noqa: F401
                            index)  # (registration)

__all__ = ["REGISTRY", "NOT_DIFFERENTIABLE", "Kind", "OpDef", "VJPContext", "get",
           "infer_type", "register"]
