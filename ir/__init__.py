"""graphnn.ir: the dataflow IR (graph, types, op registry, autodiff, passes, printers)."""
from graphnn.ir.types import DType, TensorType, float32, float64, int32, int64, bool_
from graphnn.ir.graph import Graph

__all__ = ["DType", "TensorType", "Graph", "float32", "float64", "int32", "int64", "bool_"]
