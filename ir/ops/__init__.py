"""The primitive op set. Importing this package registers every op."""
from graphnn.ir.ops.registry import (REGISTRY, EVERY_ARG, NOT_DIFFERENTIABLE, Kind, OpDef,
                                     Reducer, VJPContext, get, infer_type, register)
# importing each module registers its ops
from graphnn.ir.ops import elementwise, reduce, movement, nn, pad, random, index, unfold  # noqa: F401

__all__ = ["REGISTRY", "EVERY_ARG", "NOT_DIFFERENTIABLE", "Kind", "OpDef", "Reducer",
           "VJPContext", "get", "infer_type", "register"]
