"""``graphnn.optim``: optimizers whose update step runs as one compiled graph per parameter
group."""
from graphnn.optim.optimizer import Optimizer
from graphnn.optim.sgd import SGD

__all__ = ["Optimizer", "SGD"]
