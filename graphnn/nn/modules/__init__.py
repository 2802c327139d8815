from graphnn.nn.modules.activation import (Dropout, Flatten, LeakyReLU, LogSoftmax, PReLU, ReLU,
                                           ReLU6, Sigmoid, Softmax, Tanh)
from graphnn.nn.modules.container import (ModuleDict, ModuleList, ParameterDict, ParameterList,
                                          Sequential)
from graphnn.nn.modules.conv import Conv2d
from graphnn.nn.modules.linear import Identity, Linear
from graphnn.nn.modules.loss import CrossEntropyLoss, MSELoss, NLLLoss
from graphnn.nn.modules.pooling import MaxPool2d

__all__ = ["Conv2d", "CrossEntropyLoss", "Dropout", "Flatten", "Identity", "LeakyReLU",
           "Linear", "LogSoftmax", "MSELoss", "MaxPool2d", "ModuleDict", "ModuleList", "NLLLoss",
           "PReLU", "ParameterDict", "ParameterList", "ReLU", "ReLU6", "Sequential", "Sigmoid",
           "Softmax", "Tanh"]
