"""Small models for the pass and CLI tests (also loadable by ``graphnn dump``)."""
import graphnn.nn as nn
import graphnn.nn.functional as F


def conv_block():
    return nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.MaxPool2d(2))


def conv_bn_block():
    return nn.Sequential(nn.Conv2d(2, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(),
                         nn.MaxPool2d(2))


def conv_bn_block_eval():
    return conv_bn_block().eval()


def mlp():
    return nn.Sequential(nn.Linear(6, 5), nn.ReLU(), nn.Linear(5, 3))


class Chain(nn.Module):
    """An elementwise chain with a shared input: one kernel."""

    def forward(self, x):
        return ((x * 2 + 1).tanh() * x).relu()


class Softmax(nn.Module):
    def forward(self, x):
        return F.softmax(x * 3, dim=1)


class MeanSquare(nn.Module):
    """A reduction with an elementwise prologue (square) and epilogue (sqrt, scale)."""

    def forward(self, x):
        return ((x * x).sum(1) * 0.5).sqrt()
