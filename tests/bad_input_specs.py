"""The valid call of every public module, functional op and optimizer, for the bad-input
table (``tests/test_bad_input_table.py``): the table derives its bad calls from these.

A ``Spec`` names a module (``nn.Linear``: constructor arguments, then a call on the
inputs), a function (``F.linear``, ``torch.matmul``: the inputs, then ``args``) or a
tensor method (``Tensor.view``). ``inputs`` describe the tensors: shape and kind (``f``
float, ``p`` float in (0, 1), ``s`` signs, ``i`` integers in [0, high), ``b`` bool, ``a``
an explicit array). The first ``f`` input is the one whose rank, shape, dtype and values
the table varies; ``i`` inputs get out-of-range values; the constructor arguments listed
in ``sizes`` get negative, zero and absurd values."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class A:
    shape: tuple
    kind: str = "f"
    high: int = 0
    value: object = None        # kind "a": the array itself


def I(shape, high):  # noqa: E743  (an index tensor)
    return A(tuple(shape), "i", high)


@dataclass(frozen=True)
class Spec:
    name: str                           # "nn.Linear", "F.linear", "torch.cat", "Tensor.view"
    args: tuple = ()
    kwargs: dict = field(default_factory=dict)
    inputs: tuple = ()
    sizes: tuple = ()                   # indices of size arguments in ``args``
    alloc: tuple = ()                   # those that size parameters or outputs: absurd rows
    list_input: bool = False            # the inputs are passed as one list (torch.cat)
    lead: tuple = ()                    # arguments before the tensors (einsum's equation)
    names: tuple = ()                   # keyword names of the tensors after the first

    @property
    def short(self) -> str:
        return self.name.split(".", 1)[1]


def M(cls, args=(), inputs=(), sizes=(), alloc=(), **kwargs):
    return Spec(f"nn.{cls}", tuple(args), kwargs, tuple(inputs), tuple(sizes), tuple(alloc))


def F(fn, inputs=(), args=(), **kwargs):
    return Spec(f"F.{fn}", tuple(args), kwargs, tuple(inputs))


def T(fn, inputs=(), args=(), sizes=(), alloc=(), **kwargs):
    return Spec(f"torch.{fn}", tuple(args), kwargs, tuple(inputs), tuple(sizes), tuple(alloc))


def X(*shape):
    return A(tuple(shape))


_LP = np.log(np.full((5, 2, 4), 0.25, np.float32))
_CTC = (A((5, 2, 4), "a", value=_LP), A((2, 3), "a", value=np.array([[1, 2, 3], [2, 2, 0]])),
        A((2,), "a", value=np.array([5, 5])), A((2,), "a", value=np.array([3, 2])))

ACTIVATIONS = ["ReLU", "ReLU6", "Hardtanh", "LeakyReLU", "RReLU", "ELU", "SELU", "CELU",
               "GELU", "SiLU", "Mish", "Softplus", "LogSigmoid", "Sigmoid", "Tanh",
               "Hardsigmoid", "Hardswish", "Softsign", "Softshrink", "Hardshrink",
               "Tanhshrink"]
ACT_FNS = ["relu", "relu6", "hardtanh", "leaky_relu", "rrelu", "elu", "selu", "celu", "gelu",
           "silu", "mish", "softplus", "logsigmoid", "sigmoid", "tanh", "hardsigmoid",
           "hardswish", "softsign", "softshrink", "hardshrink", "tanhshrink"]

MODULES = [M(a, inputs=[X(2, 3)]) for a in ACTIVATIONS] + [
    M("Threshold", (0.1, 20.0), [X(2, 3)]),
    M("PReLU", (3,), [X(2, 3)], sizes=(0,), alloc=(0,)),
    M("GLU", (), [X(2, 4)]),
    M("Softmax", (1,), [X(2, 3)]), M("LogSoftmax", (1,), [X(2, 3)]),
    M("Softmin", (1,), [X(2, 3)]), M("Softmax2d", (), [X(2, 3, 4, 4)]),
    M("Linear", (5, 3), [X(4, 5)], sizes=(0, 1), alloc=(0, 1)),
    M("Bilinear", (3, 4, 2), [X(5, 3), X(5, 4)], sizes=(0, 1, 2), alloc=(0, 1, 2)),
    M("CosineSimilarity", (), [X(2, 3), X(2, 3)]),
    M("PairwiseDistance", (), [X(2, 3), X(2, 3)]),
    M("Conv1d", (2, 3, 3), [X(2, 2, 8)], sizes=(0, 1, 2), alloc=(0, 1)),
    M("Conv2d", (2, 3, 3), [X(2, 2, 6, 6)], sizes=(0, 1, 2), alloc=(0, 1)),
    M("Conv3d", (2, 3, 3), [X(1, 2, 5, 5, 5)], sizes=(0, 1, 2), alloc=(0, 1)),
    M("ConvTranspose1d", (2, 3, 3), [X(2, 2, 5)], sizes=(0, 1, 2), alloc=(0, 1)),
    M("ConvTranspose2d", (2, 3, 3), [X(2, 2, 4, 4)], sizes=(0, 1, 2), alloc=(0, 1)),
    M("ConvTranspose3d", (2, 3, 3), [X(1, 2, 3, 3, 3)], sizes=(0, 1, 2), alloc=(0, 1)),
    M("LazyLinear", (3,), [X(4, 5)], sizes=(0,), alloc=(0,)),
    M("LazyConv1d", (3, 3), [X(2, 2, 8)], sizes=(0, 1), alloc=(0,)),
    M("LazyConv2d", (3, 3), [X(2, 2, 6, 6)], sizes=(0, 1), alloc=(0,)),
    M("LazyConv3d", (3, 3), [X(1, 2, 5, 5, 5)], sizes=(0, 1), alloc=(0,)),
    M("LazyBatchNorm1d", (), [X(4, 3)]), M("LazyBatchNorm2d", (), [X(2, 3, 4, 4)]),
    M("LazyBatchNorm3d", (), [X(2, 3, 2, 2, 2)]),
    M("Fold", ((4, 5), 2), [X(1, 12, 12)]), M("Unfold", (2,), [X(2, 3, 4, 4)]),
    M("MaxPool1d", (2,), [X(2, 3, 8)], sizes=(0,)),
    M("MaxPool2d", (2,), [X(2, 3, 6, 6)], sizes=(0,)),
    M("MaxPool3d", (2,), [X(1, 2, 4, 4, 4)], sizes=(0,)),
    M("AvgPool1d", (2,), [X(2, 3, 8)], sizes=(0,)),
    M("AvgPool2d", (2,), [X(2, 3, 6, 6)], sizes=(0,)),
    M("AvgPool3d", (2,), [X(1, 2, 4, 4, 4)], sizes=(0,)),
    M("LPPool1d", (2, 2), [X(2, 3, 8)], sizes=(1,)),
    M("LPPool2d", (2, 2), [X(2, 3, 6, 6)], sizes=(1,)),
    M("LPPool3d", (2, 2), [X(1, 2, 4, 4, 4)], sizes=(1,)),
    M("AdaptiveAvgPool1d", (3,), [X(2, 3, 8)], sizes=(0,), alloc=(0,)),
    M("AdaptiveAvgPool2d", (3,), [X(2, 3, 6, 6)], sizes=(0,)),
    M("AdaptiveAvgPool3d", (2,), [X(1, 2, 4, 4, 4)], sizes=(0,)),
    M("AdaptiveMaxPool1d", (3,), [X(2, 3, 8)], sizes=(0,), alloc=(0,)),
    M("AdaptiveMaxPool2d", (3,), [X(2, 3, 6, 6)], sizes=(0,)),
    M("AdaptiveMaxPool3d", (2,), [X(1, 2, 4, 4, 4)], sizes=(0,)),
    M("MaxUnpool1d", (2,), [X(2, 3, 4), I((2, 3, 4), 8)], sizes=(0,)),
    M("MaxUnpool2d", (2,), [X(2, 3, 3, 3), I((2, 3, 3, 3), 36)], sizes=(0,)),
    M("MaxUnpool3d", (2,), [X(1, 2, 2, 2, 2), I((1, 2, 2, 2, 2), 64)], sizes=(0,)),
    M("BatchNorm1d", (3,), [X(4, 3)], sizes=(0,), alloc=(0,)),
    M("BatchNorm2d", (3,), [X(2, 3, 4, 4)], sizes=(0,), alloc=(0,)),
    M("BatchNorm3d", (3,), [X(2, 3, 2, 2, 2)], sizes=(0,), alloc=(0,)),
    M("LayerNorm", (4,), [X(2, 3, 4)], sizes=(0,), alloc=(0,)),
    M("GroupNorm", (2, 4), [X(2, 4, 3)], sizes=(0, 1), alloc=(1,)),
    M("InstanceNorm1d", (3,), [X(2, 3, 5)], sizes=(0,)),
    M("InstanceNorm2d", (3,), [X(2, 3, 4, 4)], sizes=(0,)),
    M("InstanceNorm3d", (3,), [X(2, 3, 2, 2, 2)], sizes=(0,)),
    M("LocalResponseNorm", (2,), [X(2, 3, 4, 4)], sizes=(0,)),
    M("Dropout", (0.5,), [X(2, 3)]), M("Dropout1d", (0.5,), [X(2, 3, 4)]),
    M("Dropout2d", (0.5,), [X(2, 3, 4, 4)]), M("Dropout3d", (0.5,), [X(2, 3, 2, 2, 2)]),
    M("AlphaDropout", (0.5,), [X(2, 3)]), M("FeatureAlphaDropout", (0.5,), [X(2, 3, 4, 4)]),
    M("Embedding", (10, 3), [I((2, 4), 10)], sizes=(0, 1), alloc=(0, 1)),
    M("EmbeddingBag", (10, 3), [I((2, 4), 10)], sizes=(0, 1), alloc=(0, 1)),
    M("RNN", (4, 5), [X(3, 2, 4)], sizes=(0, 1), alloc=(0, 1)),
    M("LSTM", (4, 5), [X(3, 2, 4)], sizes=(0, 1), alloc=(0, 1)),
    M("GRU", (4, 5), [X(3, 2, 4)], sizes=(0, 1), alloc=(0, 1)),
    M("RNNCell", (4, 5), [X(2, 4)], sizes=(0, 1), alloc=(0, 1)),
    M("LSTMCell", (4, 5), [X(2, 4)], sizes=(0, 1), alloc=(0, 1)),
    M("GRUCell", (4, 5), [X(2, 4)], sizes=(0, 1), alloc=(0, 1)),
    M("MultiheadAttention", (4, 2), [X(3, 2, 4), X(3, 2, 4), X(3, 2, 4)], sizes=(0,),
      alloc=(0,)),
    M("TransformerEncoderLayer", (4, 2, 8), [X(3, 2, 4)], sizes=(0, 1, 2), alloc=(0, 2)),
    M("TransformerDecoderLayer", (4, 2, 8), [X(3, 2, 4), X(3, 2, 4)], sizes=(0, 1, 2),
      alloc=(0, 2)),
    M("Transformer", (), [X(3, 2, 4), X(3, 2, 4)], d_model=4, nhead=2, num_encoder_layers=1,
      num_decoder_layers=1, dim_feedforward=8),
    M("Flatten", (), [X(2, 3, 4)]), M("Unflatten", (1, (2, 2)), [X(3, 4)]),
    M("PixelShuffle", (2,), [X(1, 4, 3, 3)]), M("PixelUnshuffle", (2,), [X(1, 1, 4, 4)]),
    M("ChannelShuffle", (2,), [X(1, 4, 2, 2)]),
    M("Upsample", (), [X(1, 2, 3, 3)], scale_factor=2),
    M("UpsamplingNearest2d", (), [X(1, 2, 3, 3)], scale_factor=2),
    M("UpsamplingBilinear2d", (), [X(1, 2, 3, 3)], scale_factor=2),
    M("ZeroPad1d", (2,), [X(2, 3, 5)]), M("ZeroPad2d", (1,), [X(2, 3, 4, 4)]),
    M("ZeroPad3d", (1,), [X(1, 2, 3, 3, 3)]),
    M("ConstantPad1d", (2, 1.5), [X(2, 3, 5)]), M("ConstantPad2d", (1, 1.5), [X(2, 3, 4, 4)]),
    M("ConstantPad3d", (1, 1.5), [X(1, 2, 3, 3, 3)]),
] + [M(f"{kind}Pad{d}d", (1,), [X(*((2, 3, 4, 4, 4)[:2 + d] if d < 3 else (1, 2, 3, 3, 3)))])
     for kind in ("Reflection", "Replication", "Circular") for d in (1, 2, 3)] + [
    M("L1Loss", (), [X(2, 3), X(2, 3)]), M("MSELoss", (), [X(2, 3), X(2, 3)]),
    M("CrossEntropyLoss", (), [X(4, 5), I((4,), 5)]),
    M("NLLLoss", (), [X(4, 5), I((4,), 5)]),
    M("KLDivLoss", (), [X(2, 3), X(2, 3)], reduction="batchmean"),
    M("SmoothL1Loss", (), [X(2, 3), X(2, 3)]), M("HuberLoss", (), [X(2, 3), X(2, 3)]),
    M("BCELoss", (), [A((2, 3), "p"), A((2, 3), "p")]),
    M("BCEWithLogitsLoss", (), [X(2, 3), A((2, 3), "p")]),
    M("SoftMarginLoss", (), [X(2, 3), A((2, 3), "s")]),
    M("MultiMarginLoss", (), [X(4, 5), I((4,), 5)]),
    M("MultiLabelMarginLoss", (), [X(2, 4), I((2, 4), 4)]),
    M("MultiLabelSoftMarginLoss", (), [X(2, 4), A((2, 4), "p")]),
    M("HingeEmbeddingLoss", (), [X(2, 3), A((2, 3), "s")]),
    M("CosineEmbeddingLoss", (), [X(2, 3), X(2, 3), A((2,), "s")]),
    M("MarginRankingLoss", (), [X(3), X(3), A((3,), "s")]),
    M("TripletMarginLoss", (), [X(2, 3), X(2, 3), X(2, 3)]),
    M("TripletMarginWithDistanceLoss", (), [X(2, 3), X(2, 3), X(2, 3)]),
    M("PoissonNLLLoss", (), [X(2, 3), A((2, 3), "p")]),
    M("GaussianNLLLoss", (), [X(2, 3), X(2, 3), A((2, 3), "p")]),
    M("CTCLoss", (), _CTC),
]

FUNCTIONS = [F(f, [X(2, 3)]) for f in ACT_FNS] + [
    F("threshold", [X(2, 3)], (0.1, 20.0)), F("prelu", [X(2, 3), X(3)]),
    F("glu", [X(2, 4)]), F("softmax", [X(2, 3)], (1,)), F("log_softmax", [X(2, 3)], (1,)),
    F("softmin", [X(2, 3)], (1,)),
    F("linear", [X(4, 5), X(3, 5), X(3)]), F("bilinear", [X(5, 3), X(5, 4), X(2, 3, 4)]),
    F("cosine_similarity", [X(2, 3), X(2, 3)]), F("pairwise_distance", [X(2, 3), X(2, 3)]),
    F("conv1d", [X(2, 2, 8), X(3, 2, 3)]), F("conv2d", [X(2, 2, 6, 6), X(3, 2, 3, 3)]),
    F("conv3d", [X(1, 2, 5, 5, 5), X(3, 2, 3, 3, 3)]),
    F("conv_transpose1d", [X(2, 2, 5), X(2, 3, 3)]),
    F("conv_transpose2d", [X(2, 2, 4, 4), X(2, 3, 3, 3)]),
    F("conv_transpose3d", [X(1, 2, 3, 3, 3), X(2, 3, 3, 3, 3)]),
    F("max_pool1d", [X(2, 3, 8)], (2,)), F("max_pool2d", [X(2, 3, 6, 6)], (2,)),
    F("max_pool3d", [X(1, 2, 4, 4, 4)], (2,)),
    F("avg_pool1d", [X(2, 3, 8)], (2,)), F("avg_pool2d", [X(2, 3, 6, 6)], (2,)),
    F("avg_pool3d", [X(1, 2, 4, 4, 4)], (2,)),
    F("lp_pool1d", [X(2, 3, 8)], (2, 2)), F("lp_pool2d", [X(2, 3, 6, 6)], (2, 2)),
    F("lp_pool3d", [X(1, 2, 4, 4, 4)], (2, 2)),
    F("adaptive_avg_pool1d", [X(2, 3, 8)], (3,)), F("adaptive_avg_pool2d", [X(2, 3, 6, 6)], (3,)),
    F("adaptive_avg_pool3d", [X(1, 2, 4, 4, 4)], (2,)),
    F("adaptive_max_pool1d", [X(2, 3, 8)], (3,)), F("adaptive_max_pool2d", [X(2, 3, 6, 6)], (3,)),
    F("adaptive_max_pool3d", [X(1, 2, 4, 4, 4)], (2,)),
    F("max_unpool1d", [X(2, 3, 4), I((2, 3, 4), 8)], (2,)),
    F("max_unpool2d", [X(2, 3, 3, 3), I((2, 3, 3, 3), 36)], (2,)),
    F("max_unpool3d", [X(1, 2, 2, 2, 2), I((1, 2, 2, 2, 2), 64)], (2,)),
    F("batch_norm", [X(4, 3), X(3), A((3,), "p")]),
    F("layer_norm", [X(2, 3, 4)], ((4,),)), F("group_norm", [X(2, 4, 3)], (2,)),
    F("instance_norm", [X(2, 3, 5)]), F("local_response_norm", [X(2, 3, 4, 4)], (2,)),
    F("normalize", [X(2, 3)]),
    F("dropout", [X(2, 3)]), F("dropout1d", [X(2, 3, 4)]), F("dropout2d", [X(2, 3, 4, 4)]),
    F("dropout3d", [X(2, 3, 2, 2, 2)]), F("alpha_dropout", [X(2, 3)], training=True),
    F("feature_alpha_dropout", [X(2, 3, 4, 4)], training=True),
    F("embedding", [I((2, 4), 10), X(10, 3)]), F("embedding_bag", [I((2, 4), 10), X(10, 3)]),
    F("one_hot", [I((2, 4), 5)], (5,)),
    F("pad", [X(2, 3, 4, 4)], ((1, 1, 2, 0),)),
    F("pad", [X(2, 3, 4, 4)], ((1, 1, 2, 0), "reflect")),
    F("interpolate", [X(1, 2, 3, 3)], scale_factor=2),
    F("interpolate", [X(1, 2, 3, 3)], scale_factor=2, mode="bilinear"),
    F("upsample", [X(1, 2, 3, 3)], scale_factor=2),
    F("upsample_nearest", [X(1, 2, 3, 3)], scale_factor=2),
    F("upsample_bilinear", [X(1, 2, 3, 3)], scale_factor=2),
    F("pixel_shuffle", [X(1, 4, 3, 3)], (2,)), F("pixel_unshuffle", [X(1, 1, 4, 4)], (2,)),
    F("channel_shuffle", [X(1, 4, 2, 2)], (2,)),
    F("unfold", [X(2, 3, 4, 4)], (2,)), F("fold", [X(1, 12, 12)], ((4, 5), 2)),
    F("scaled_dot_product_attention", [X(2, 3, 4), X(2, 3, 4), X(2, 3, 4)]),
    F("mse_loss", [X(2, 3), X(2, 3)]), F("l1_loss", [X(2, 3), X(2, 3)]),
    F("smooth_l1_loss", [X(2, 3), X(2, 3)]), F("huber_loss", [X(2, 3), X(2, 3)]),
    F("cross_entropy", [X(4, 5), I((4,), 5)]), F("nll_loss", [X(4, 5), I((4,), 5)]),
    F("kl_div", [X(2, 3), X(2, 3)], reduction="batchmean"),
    F("binary_cross_entropy", [A((2, 3), "p"), A((2, 3), "p")]),
    F("binary_cross_entropy_with_logits", [X(2, 3), A((2, 3), "p")]),
    F("soft_margin_loss", [X(2, 3), A((2, 3), "s")]),
    F("multi_margin_loss", [X(4, 5), I((4,), 5)]),
    F("multilabel_margin_loss", [X(2, 4), I((2, 4), 4)]),
    F("multilabel_soft_margin_loss", [X(2, 4), A((2, 4), "p")]),
    F("hinge_embedding_loss", [X(2, 3), A((2, 3), "s")]),
    F("cosine_embedding_loss", [X(2, 3), X(2, 3), A((2,), "s")]),
    F("margin_ranking_loss", [X(3), X(3), A((3,), "s")]),
    F("triplet_margin_loss", [X(2, 3), X(2, 3), X(2, 3)]),
    F("triplet_margin_with_distance_loss", [X(2, 3), X(2, 3), X(2, 3)]),
    F("poisson_nll_loss", [X(2, 3), A((2, 3), "p")]),
    F("gaussian_nll_loss", [X(2, 3), X(2, 3), A((2, 3), "p")]),
    F("ctc_loss", _CTC),
]

TENSOR_OPS = [
    T("matmul", [X(2, 3), X(3, 4)]), T("mm", [X(2, 3), X(3, 4)]),
    T("bmm", [X(2, 2, 3), X(2, 3, 4)]), T("add", [X(2, 3), X(2, 3)]),
    T("mul", [X(2, 3), X(3)]), T("where", [A((2, 3), "b"), X(2, 3), X(2, 3)]),
    T("sum", [X(2, 3)], (1,)), T("mean", [X(2, 3)], (1,)), T("amax", [X(2, 3)], (1,)),
    T("argmax", [X(2, 3)], (1,)), T("softmax", [X(2, 3)], (1,)), T("cumsum", [X(2, 3)], (1,)),
    T("topk", [X(2, 5)], (2,)), T("sort", [X(2, 5)]), T("flip", [X(2, 3)], ((1,),)),
    Spec("torch.gather", (), {"dim": 1}, (X(2, 3), I((2, 2), 3)), names=("index",)),
    Spec("torch.index_select", (), {"dim": 1}, (X(2, 3), I((2,), 3)), names=("index",)),
    Spec("torch.scatter_add", (), {"dim": 1}, (X(2, 3), I((2, 2), 3), X(2, 2)),
         names=("index", "src")),
    T("reshape", [X(2, 3)], ((3, 2),)), T("transpose", [X(2, 3)], (0, 1)),
    T("squeeze", [X(2, 1)], (1,)), T("unsqueeze", [X(2, 3)], (0,)),
    T("narrow", [X(2, 3)], (1, 0, 2)), T("select", [X(2, 3)], (1, 2)),
    T("split", [X(4, 3)], (2,)), T("chunk", [X(4, 3)], (2,)), T("clamp", [X(2, 3)], (0.0, 1.0)),
    T("maximum", [X(2, 3), X(2, 3)]), T("pow", [X(2, 3)], (2.0,)),
    T("outer", [X(3), X(2)]), T("tril", [X(3, 3)]), T("diag", [X(3)]),
    Spec("torch.einsum", (), {}, (X(2, 3), X(3, 4)), lead=("ij,jk->ik",)),
    T("cat", [X(2, 3), X(2, 3)]),
    T("stack", [X(2, 3), X(2, 3)]),
]
FACTORIES = [T(f, [], (2, 3), sizes=(0, 1), alloc=(0,)) for f in (
    "zeros", "ones", "empty", "rand", "randn")] + [
    T("full", [], ((2, 3), 1.5)), T("randint", [], (5, (2, 3))),
    T("arange", [], (6,), sizes=(0,), alloc=(0,)), T("eye", [], (3,), sizes=(0,), alloc=(0,)),
    T("linspace", [], (0.0, 1.0, 5), sizes=(2,), alloc=(2,)),
    T("randperm", [], (5,), sizes=(0,), alloc=(0,))]
TENSOR_OPS = [s if s.short not in ("cat", "stack") else
              Spec(s.name, s.args, s.kwargs, s.inputs, list_input=True) for s in TENSOR_OPS]

SPECS = MODULES + FUNCTIONS + TENSOR_OPS + FACTORIES

# optimizer, keyword, a value PyTorch refuses (torch 2.13 raises ValueError for each)
OPTIMIZERS = ["SGD", "Adam", "AdamW", "Adamax", "NAdam", "RAdam", "RMSprop", "Adagrad",
              "Adadelta", "LBFGS"]
BAD_OPTIONS = [("SGD", "momentum", -0.5), ("SGD", "weight_decay", -1.0),
               ("SGD", "nesterov", True), ("Adam", "betas", (1.5, 0.9)),
               ("Adam", "betas", (0.9, -0.1)), ("Adam", "eps", -1e-8),
               ("Adam", "weight_decay", -1.0), ("AdamW", "betas", (1.0, 0.9)),
               ("Adamax", "betas", (0.9, 1.0)), ("NAdam", "momentum_decay", -1.0),
               ("RAdam", "betas", (2.0, 0.9)), ("RMSprop", "alpha", -0.5),
               ("RMSprop", "momentum", -1.0), ("Adagrad", "lr_decay", -1.0),
               ("Adagrad", "initial_accumulator_value", -1.0), ("Adadelta", "rho", 1.5),
               ("Adadelta", "eps", -1.0)] + [(o, "lr", -1.0) for o in OPTIMIZERS]


# -- the normal step run after every failure ----------------------------------------------
_TRAIN: list = []


def train_step() -> float:
    """A training step of a small model (compiled once per process): after a failure the
    same process goes on working."""
    import graphnn
    if not _TRAIN:
        graphnn.manual_seed(0)
        net = graphnn.nn.Sequential(graphnn.nn.Linear(8, 16), graphnn.nn.ReLU(),
                                    graphnn.nn.Linear(16, 4))
        opt = graphnn.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
        rng = np.random.default_rng(0)
        _TRAIN.extend([net, opt, graphnn.tensor(rng.standard_normal((8, 8)).astype(np.float32)),
                       graphnn.tensor(rng.integers(0, 4, 8))])
    net, opt, x, y = _TRAIN
    opt.zero_grad()
    loss = graphnn.nn.functional.cross_entropy(net(x), y)
    loss.backward()
    opt.step()
    value = loss.item()
    assert np.isfinite(value), value
    return value
