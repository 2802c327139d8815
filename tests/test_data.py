"""graphnn.utils.data against torch.utils.data."""
import numpy as np
import pytest
import torch
from torch.utils import data as tdata

import graphnn
from graphnn.utils import data as gdata


@pytest.mark.parametrize("batch,drop", [(4, False), (4, True), (10, False), (1, False)])
def test_dataloader_batches_match_torch_without_shuffle(batch, drop):
    x = np.arange(30, dtype=np.float32).reshape(10, 3)
    y = np.arange(10)
    ours = gdata.DataLoader(gdata.TensorDataset(graphnn.tensor(x), graphnn.tensor(y)),
                            batch_size=batch, drop_last=drop)
    ref = tdata.DataLoader(tdata.TensorDataset(torch.tensor(x), torch.tensor(y)),
                           batch_size=batch, drop_last=drop)
    assert len(ours) == len(ref)
    got, want = list(ours), list(ref)
    assert len(got) == len(want)
    for (gx, gy), (tx, ty) in zip(got, want):
        np.testing.assert_array_equal(gx.numpy(), tx.numpy())
        np.testing.assert_array_equal(gy.numpy(), ty.numpy())
        assert gy.dtype == graphnn.int64 and gx.dtype == graphnn.float32


def test_shuffle_visits_every_sample_once():
    graphnn.manual_seed(0)
    ds = gdata.TensorDataset(np.arange(17))
    seen = np.concatenate([b[0].numpy() for b in gdata.DataLoader(ds, batch_size=5,
                                                                   shuffle=True)])
    assert sorted(seen.tolist()) == list(range(17))
    assert seen.tolist() != list(range(17))


class Squares(gdata.Dataset):
    def __len__(self):
        return 5

    def __getitem__(self, i):
        return {"x": np.full(2, i, np.float32), "n": i, "f": float(i)}


def test_custom_dataset_and_default_collate_follow_torch():
    class TSquares(tdata.Dataset):
        def __len__(self):
            return 5

        def __getitem__(self, i):
            return {"x": np.full(2, i, np.float32), "n": i, "f": float(i)}

    (g,) = list(gdata.DataLoader(Squares(), batch_size=5))
    (t,) = list(tdata.DataLoader(TSquares(), batch_size=5))
    for k in ("x", "n", "f"):
        np.testing.assert_array_equal(g[k].numpy(), t[k].numpy())
        assert g[k].dtype.name == str(t[k].dtype).replace("torch.", "")


def test_random_split_and_errors():
    graphnn.manual_seed(1)
    a, b = gdata.random_split(gdata.TensorDataset(np.arange(10)), [7, 3])
    assert (len(a), len(b)) == (7, 3)
    assert sorted([int(a[i][0]) for i in range(7)] + [int(b[i][0]) for i in range(3)]) == \
        list(range(10))
    c, d = gdata.random_split(gdata.TensorDataset(np.arange(10)), [0.5, 0.5])
    assert (len(c), len(d)) == (5, 5)
    with pytest.raises(ValueError, match="Sum of input lengths"):
        gdata.random_split(gdata.TensorDataset(np.arange(10)), [3, 3])
    with pytest.raises(ValueError, match="mutually exclusive"):
        gdata.DataLoader(Squares(), sampler=[0, 1], shuffle=True)
    with pytest.raises(AssertionError, match="Size mismatch"):
        gdata.TensorDataset(np.zeros(3), np.zeros(4))
