from graphnn.nn.modules.activation import (CELU, ELU, GELU, GLU, SELU, Dropout, Flatten,
                                           Hardshrink, Hardsigmoid, Hardswish, Hardtanh,
                                           LeakyReLU, LogSigmoid, LogSoftmax, Mish, PReLU, ReLU,
                                           ReLU6, RReLU, Sigmoid, SiLU, Softmax, Softmax2d,
                                           Softmin, Softplus, Softshrink, Softsign, Tanh,
                                           Tanhshrink, Threshold)
from graphnn.nn.modules.batchnorm import (BatchNorm1d, BatchNorm2d, BatchNorm3d, InstanceNorm1d,
                                          InstanceNorm2d, InstanceNorm3d)
from graphnn.nn.modules.container import (ModuleDict, ModuleList, ParameterDict, ParameterList,
                                          Sequential)
from graphnn.nn.modules.conv import (Conv1d, Conv2d, Conv3d, ConvTranspose1d, ConvTranspose2d,
                                     ConvTranspose3d)
from graphnn.nn.modules.dropout import (AlphaDropout, Dropout1d, Dropout2d, Dropout3d,
                                        FeatureAlphaDropout)
from graphnn.nn.modules.lazy import (LazyBatchNorm1d, LazyBatchNorm2d, LazyBatchNorm3d,
                                     LazyConv1d, LazyConv2d, LazyConv3d, LazyLinear,
                                     LazyModuleMixin)
from graphnn.nn.modules.distance import CosineSimilarity, PairwiseDistance
from graphnn.nn.modules.linear import Bilinear, Identity, Linear
from graphnn.nn.modules.loss import (BCELoss, BCEWithLogitsLoss, CosineEmbeddingLoss, CTCLoss,
                                     CrossEntropyLoss, GaussianNLLLoss, HingeEmbeddingLoss,
                                     HuberLoss, KLDivLoss, L1Loss, MarginRankingLoss,
                                     MSELoss, MultiLabelMarginLoss, MultiLabelSoftMarginLoss,
                                     MultiMarginLoss, NLLLoss, PoissonNLLLoss, SmoothL1Loss,
                                     SoftMarginLoss, TripletMarginLoss,
                                     TripletMarginWithDistanceLoss)
from graphnn.nn.modules.normalization import GroupNorm, LayerNorm, LocalResponseNorm
from graphnn.nn.modules.padding import (CircularPad1d, CircularPad2d, CircularPad3d,
                                        ConstantPad1d, ConstantPad2d, ConstantPad3d,
                                        ReflectionPad1d, ReflectionPad2d, ReflectionPad3d,
                                        ReplicationPad1d, ReplicationPad2d, ReplicationPad3d,
                                        ZeroPad1d, ZeroPad2d, ZeroPad3d)
from graphnn.nn.modules.pooling import (AdaptiveAvgPool1d, AdaptiveAvgPool2d,
                                     AdaptiveAvgPool3d, AdaptiveMaxPool1d, AdaptiveMaxPool2d,
                                     AdaptiveMaxPool3d, AvgPool1d, AvgPool2d, AvgPool3d,
                                     LPPool1d, LPPool2d, LPPool3d, MaxPool1d, MaxPool2d,
                                     MaxPool3d, MaxUnpool1d, MaxUnpool2d, MaxUnpool3d)
from graphnn.nn.modules.rnn import GRU, LSTM, RNN, GRUCell, LSTMCell, RNNBase, RNNCell
from graphnn.nn.modules.shape import (ChannelShuffle, Fold, PixelShuffle, PixelUnshuffle,
                                      Unflatten, Unfold)
from graphnn.nn.modules.sparse import Embedding, EmbeddingBag
from graphnn.nn.modules.upsampling import Upsample, UpsamplingBilinear2d, UpsamplingNearest2d
from graphnn.nn.modules.transformer import (MultiheadAttention, Transformer,
                                            TransformerDecoder, TransformerDecoderLayer,
                                            TransformerEncoder, TransformerEncoderLayer)

# every layer class imported above
__all__ = sorted(name for name, obj in list(globals().items())
                 if isinstance(obj, type) and obj.__module__.startswith("graphnn.nn.modules."))
