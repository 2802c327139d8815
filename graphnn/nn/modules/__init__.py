from graphnn.nn.modules.activation import (Dropout, Flatten, LeakyReLU, LogSoftmax, PReLU, ReLU,
                                           ReLU6, Sigmoid, Softmax, Tanh)
from graphnn.nn.modules.batchnorm import BatchNorm1d, BatchNorm2d, BatchNorm3d
from graphnn.nn.modules.container import (ModuleDict, ModuleList, ParameterDict, ParameterList,
                                          Sequential)
from graphnn.nn.modules.conv import Conv1d, Conv2d, Conv3d
from graphnn.nn.modules.lazy import (LazyBatchNorm1d, LazyBatchNorm2d, LazyBatchNorm3d,
                                     LazyConv1d, LazyConv2d, LazyConv3d, LazyLinear,
                                     LazyModuleMixin)
from graphnn.nn.modules.linear import Identity, Linear
from graphnn.nn.modules.loss import CrossEntropyLoss, MSELoss, NLLLoss
from graphnn.nn.modules.pooling import MaxPool2d

__all__ = ["BatchNorm1d", "BatchNorm2d", "BatchNorm3d", "Conv1d", "Conv2d", "Conv3d", "CrossEntropyLoss", "Dropout", "Flatten", "Identity", "LazyBatchNorm1d", "LazyBatchNorm2d",
           "LazyBatchNorm3d", "LazyConv1d", "LazyConv2d", "LazyConv3d", "LazyLinear",
           "LazyModuleMixin", "LeakyReLU",
           "Linear", "LogSoftmax", "MSELoss", "MaxPool2d", "ModuleDict", "ModuleList", "NLLLoss",
           "PReLU", "ParameterDict", "ParameterList", "ReLU", "ReLU6", "Sequential", "Sigmoid",
           "Softmax", "Tanh"]
