"""``graphnn.optim``: optimizers whose update step runs as one compiled graph per parameter
group, and learning-rate schedulers (``graphnn.optim.lr_scheduler``)."""
from graphnn.optim.optimizer import Optimizer
from graphnn.optim.sgd import SGD
from graphnn.optim.adam import Adam, AdamW, Adamax, NAdam, RAdam
from graphnn.optim.rmsprop import Adadelta, Adagrad, RMSprop
from graphnn.optim.lbfgs import LBFGS
from graphnn.optim import lr_scheduler

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "Adamax", "NAdam", "RAdam", "RMSprop",
           "Adagrad", "Adadelta", "LBFGS", "lr_scheduler"]
