"""``parameters_to_vector`` / ``vector_to_parameters`` (PyTorch's
``torch.nn.utils.convert_parameters``)."""
from __future__ import annotations

from graphnn import _ops
from graphnn._tensor import Tensor
from graphnn.nn.module import typename


def parameters_to_vector(parameters) -> Tensor:
    """All parameters flattened and concatenated into one 1-D tensor (one ``cat``; it
    carries the parameters' gradients as PyTorch's does). ``parameters`` is read once."""
    return _ops.cat([p.view(-1) for p in parameters])


def vector_to_parameters(vec: Tensor, parameters) -> None:
    """Makes each parameter a view of its slice of ``vec`` (PyTorch's ``param.data =
    vec[a:b].view_as(param).data``: the parameters then share ``vec``'s storage)."""
    if not isinstance(vec, Tensor):
        raise TypeError(f"expected torch.Tensor, but got: {typename(vec)}")
    pointer = 0
    for param in parameters:
        n = param.numel()
        param.data = vec[pointer:pointer + n].view(tuple(param.shape)).data
        pointer += n
