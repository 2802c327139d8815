"""``graphnn.distributed``, ``DistributedDataParallel`` and ``DistributedSampler``.

The two-rank checks run ``tests/mpi_worker.py`` under ``mpirun -n 2`` (one launch per
scenario, in one test each, with a hard timeout) and compare what the ranks saved with numpy and with a
single-process graphnn run on the concatenated batches. The sampler is checked against
PyTorch's in this process."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import graphnn
import graphnn.distributed as dist
from graphnn.utils.data import DistributedSampler
from tests import mpi_worker

WORKER = Path(__file__).parent / "mpi_worker.py"
BIN = Path(sys.executable).parent


def mpirun(scenario: str, outdir: Path, timeout: float) -> subprocess.CompletedProcess:
    """Runs the worker on 2 ranks, as root in a container too; kills it after ``timeout``."""
    exe = shutil.which("mpirun", path=str(BIN)) or shutil.which("mpirun")
    assert exe, "mpirun not found: pip install 'graphnn[mpi]' (the test extra installs it)"
    env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
               POCL_MAX_PTHREAD_COUNT="1", PYTHONUNBUFFERED="1")
    # the module-scoped fixture runs before conftest's per-test build options: use the
    # options the single-process reference in this file builds with (one cached binary)
    env.setdefault("GRAPHNN_CL_OPTIONS", "-cl-opt-disable")
    cmd = [exe, "-n", "2", "--oversubscribe", "--allow-run-as-root", sys.executable,
           str(WORKER), scenario, str(outdir)]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)


def test_two_ranks(tmp_path):
    """One launch of the ``main`` scenario (a module fixture would launch once per xdist
    worker); each check below reads what both ranks saved."""
    proc = mpirun("main", tmp_path, timeout=240)
    if proc.returncode and os.environ.get("GRAPHNN_LIMITS") and \
            "failed with DeviceFeatureError" in proc.stdout + proc.stderr:
        from graphnn.codegen import DeviceFeatureError
        # the scenario's float64 all_reduce on a device without float64: conftest skips it
        raise DeviceFeatureError(next(line for line in (proc.stdout + proc.stderr).splitlines()
                                      if "DeviceFeatureError:" in line))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    ranks = [dict(np.load(tmp_path / f"rank{r}.npz")) for r in range(2)]
    check_collectives_match_numpy(ranks)
    check_bad_input_raises_alike_on_every_rank(ranks)
    check_ddp_matches_single_process_on_concatenated_batch(ranks)
    check_ddp_broadcasts_rank0_buffers(ranks)
    check_ddp_unused_parameters(ranks)
    check_sampler_defaults_come_from_the_group(ranks)


def check_collectives_match_numpy(ranks: list[dict]) -> None:
    a, b = mpi_worker.inputs(0), mpi_worker.inputs(1)
    expect = {
        "all_reduce_f32_SUM": a["f32"] + b["f32"],
        "all_reduce_f32_AVG": (a["f32"] + b["f32"]) / 2,
        "all_reduce_f32_MAX": np.maximum(a["f32"], b["f32"]),
        "all_reduce_f32_MIN": np.minimum(a["f32"], b["f32"]),
        "all_reduce_f64_SUM": a["f64"] + b["f64"],
        "all_reduce_i64_SUM": a["i64"] + b["i64"],
        "all_reduce_i64_MAX": np.maximum(a["i64"], b["i64"]),
        "all_reduce_i64_MIN": np.minimum(a["i64"], b["i64"]),
        "all_reduce_bool_MAX": a["bool"] | b["bool"],
        "broadcast": b["f32"],
        "all_gather": np.stack([a["f32"], b["f32"]]),
        "all_gather_into_tensor": np.concatenate([a["f32"], b["f32"]]),
    }
    for r, got in enumerate(ranks):
        for key, want in expect.items():
            assert got[key].dtype == want.dtype, key
            np.testing.assert_allclose(got[key], want, rtol=1e-6, err_msg=f"{key} rank {r}")
        mine = mpi_worker.inputs(r)["wide"]
        view = mine.copy()
        view[1:3] = a["wide"][1:3] + b["wide"][1:3]
        np.testing.assert_allclose(got["all_reduce_view"], view, rtol=1e-6)
        summed = a["scatter"][r] + b["scatter"][r]
        np.testing.assert_allclose(got["reduce_scatter_SUM"], summed, rtol=1e-6)
        np.testing.assert_allclose(got["reduce_scatter_AVG"], summed / 2, rtol=1e-6)
        np.testing.assert_allclose(got["reduce_scatter_tensor"], summed, rtol=1e-6)
        assert got["async_completed"] and got["rank"] == r and got["world"] == 2


def check_bad_input_raises_alike_on_every_rank(ranks: list[dict]) -> None:
    want = {
        "shape": "RuntimeError: all_reduce: argument 'tensor' has shape [2, 3] and dtype "
                 "float32 on rank 0 but shape [3] and dtype float32 on rank 1",
        "dtype": "RuntimeError: all_reduce: argument 'tensor' has shape [3] and dtype float32 "
                 "on rank 0 but shape [3] and dtype int64 on rank 1",
        "mismatch": "the ranks called different collectives (rank 0: all_reduce, rank 1: "
                    "broadcast)",
        "avg_int": "TypeError: all_reduce: ReduceOp.AVG needs a floating-point tensor",
        "root": "RuntimeError: broadcast: invalid root rank: 2",
        "list": "RuntimeError: all_gather: argument 'tensor_list' holds 1 tensors, expected "
                "one per rank (world size 2)",
        "not_tensor": "TypeError: all_reduce: invalid function argument. Expected parameter "
                      "`tensor` of type graphnn.Tensor",
        "twice": "ValueError: trying to initialize the default process group twice!",
    }
    for got in ranks:
        for name, text in want.items():
            assert text in str(got[f"error_{name}"]), (name, got[f"error_{name}"])
        np.testing.assert_array_equal(got["after_errors"], [2.0, 2.0])


def check_ddp_matches_single_process_on_concatenated_batch(ranks: list[dict]) -> None:
    """DDP's parameters after synced steps and a no_sync accumulation step equal one
    process's trained on both ranks' samples at once, from rank 0's initial weights."""
    import graphnn.nn.functional as F  # noqa: F401  (train() imports it too)

    model = mpi_worker.mlp(seed=0)
    init = np.concatenate([p.detach().numpy().ravel() for p in model.parameters()])
    for got in ranks:
        np.testing.assert_array_equal(got["init"], init)    # rank 1 took rank 0's weights
    steps = []
    for s in range(mpi_worker.STEPS):
        steps.append([_joined(s)])
    steps.append([_joined(mpi_worker.STEPS), _joined(mpi_worker.STEPS + 1)])
    opt = graphnn.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    mpi_worker.train(model, opt, steps)
    want = np.concatenate([p.detach().numpy().ravel() for p in model.parameters()])
    assert np.abs(want - init).max() > 1e-2                 # the steps moved the weights
    for got in ranks:
        np.testing.assert_allclose(got["params"], want, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(ranks[0]["params"], ranks[1]["params"])
    for got in ranks:
        assert got["buckets"] == 2
        # every gradient of a synced step was staged from inside the compiled backward;
        # after no_sync the gradients are accumulated first and read afterwards
        assert list(got["early"]) == [4, 4, 4, 0]


def _joined(step: int):
    x0, y0 = mpi_worker.batch(0, step)
    x1, y1 = mpi_worker.batch(1, step)
    return np.concatenate([x0, x1]), np.concatenate([y0, y1])


def check_ddp_broadcasts_rank0_buffers(ranks: list[dict]) -> None:
    """BatchNorm statistics: rank 0's at construction, and before every forward, each rank
    then adding its own batch (PyTorch's default forward_sync_buffers)."""
    r0, r1 = ranks
    np.testing.assert_array_equal(r1["bn_init"], np.zeros(4, np.float32))
    mean0 = var0 = None
    for s in range(2):
        before_mean = np.zeros(4) if s == 0 else r0[f"bn_mean_{s - 1}"]
        before_var = np.ones(4) if s == 0 else r0[f"bn_var_{s - 1}"]
        for r, got in enumerate(ranks):
            h = mpi_worker.batch(r, 10 + s)[0] @ got["bn_w"].T + got["bn_b"]
            mean0 = 0.9 * before_mean + 0.1 * h.mean(0)
            var0 = 0.9 * before_var + 0.1 * h.var(0, ddof=1)
            np.testing.assert_allclose(got[f"bn_mean_{s}"], mean0, rtol=1e-5, atol=1e-6)
            np.testing.assert_allclose(got[f"bn_var_{s}"], var0, rtol=1e-5, atol=1e-6)
    assert not np.allclose(r0["bn_mean_1"], r1["bn_mean_1"])  # each rank's own batch


def check_ddp_unused_parameters(ranks: list[dict]) -> None:
    """Without find_unused_parameters PyTorch's error on every rank; with it the used
    parameters get the average of both ranks' gradients and the unused one none."""
    model = mpi_worker.mlp(seed=0)
    x, y = _joined(0)
    graphnn.nn.functional.cross_entropy(model(graphnn.tensor(x)), graphnn.tensor(y)).backward()
    want = np.concatenate([p.grad.numpy().ravel() for p in model.parameters()])
    for got in ranks:
        assert "Expected to have finished reduction in the prior iteration" in \
            str(got["unused_False"])
        assert "find_unused_parameters=True" in str(got["unused_False"])
        assert str(got["unused_True"]) == "no error"
        assert got["unused_spare_grad_is_none"]
        np.testing.assert_allclose(got["unused_grads"], want, rtol=1e-5, atol=1e-7)


def check_sampler_defaults_come_from_the_group(ranks: list[dict]) -> None:
    import torch.utils.data as tud

    for r, got in enumerate(ranks):
        ref = tud.DistributedSampler(list(range(11)), num_replicas=2, rank=r, seed=3)
        ref.set_epoch(2)
        np.testing.assert_array_equal(got["sampler"], list(ref))


def test_failing_rank_aborts_the_job(tmp_path):
    """An exception on rank 1 stops rank 0, which is waiting in all_reduce, at once."""
    start = time.monotonic()
    proc = mpirun("raise", tmp_path, timeout=60)
    elapsed = time.monotonic() - start
    text = proc.stdout + proc.stderr
    assert proc.returncode != 0, text
    assert "ValueError: rank 1 cannot go on" in text, text
    assert "graphnn.distributed: rank 1 of 2 failed with ValueError; aborting all ranks" \
        in text, text
    assert elapsed < 30, f"the job took {elapsed:.0f} s to stop"


def test_collective_times_out_instead_of_hanging(tmp_path):
    """Rank 1 never joins rank 0's all_reduce: rank 0 raises after its 1 s timeout."""
    start = time.monotonic()
    proc = mpirun("timeout", tmp_path, timeout=60)
    elapsed = time.monotonic() - start
    text = proc.stdout + proc.stderr
    assert proc.returncode != 0, text
    assert "DistBackendError: all_reduce: rank 0 of 2 waited 1 s for the other ranks and " \
        "timed out" in text, text
    assert elapsed < 30, f"the job took {elapsed:.0f} s to stop"


# -- in this process: no MPI needed ------------------------------------------------------
def test_calls_before_init_raise_pytorchs_error():
    msg = "Default process group has not been initialized"
    for call in (lambda: dist.all_reduce(graphnn.ones(2)), dist.get_rank, dist.barrier,
                 dist.get_world_size, lambda: dist.broadcast(graphnn.ones(2), src=0),
                 lambda: DistributedSampler(list(range(4)))):
        with pytest.raises(ValueError, match=msg):
            call()
    from graphnn.nn.parallel import DistributedDataParallel
    with pytest.raises(ValueError, match=msg):
        DistributedDataParallel(graphnn.nn.Linear(2, 2))
    with pytest.raises(AssertionError, match="Process group cannot be None"):
        dist.destroy_process_group()
    with pytest.raises(ValueError, match="backend 'nccl' is not available"):
        dist.init_process_group("nccl")
    assert not dist.is_initialized()


@pytest.mark.parametrize("n,replicas,drop_last,shuffle", [
    (10, 2, False, True), (11, 2, False, True), (11, 2, True, True), (7, 3, False, False),
    (2, 5, False, True), (23, 4, True, False), (1000, 3, False, True)])
def test_sampler_matches_torch(n, replicas, drop_last, shuffle):
    import torch.utils.data as tud

    data = list(range(n))
    for seed in (0, 17):
        for rank in range(replicas):
            ours = DistributedSampler(data, replicas, rank, shuffle, seed, drop_last)
            ref = tud.DistributedSampler(data, replicas, rank, shuffle, seed, drop_last)
            for epoch in (0, 1, 5):
                ours.set_epoch(epoch)
                ref.set_epoch(epoch)
                assert list(ours) == list(ref) and len(ours) == len(ref)
    with pytest.raises(ValueError, match=r"Invalid rank 3, rank should be in the interval "
                                         r"\[0, 2\]"):
        DistributedSampler(data, num_replicas=3, rank=3)


def test_sampler_feeds_dataloader():
    """Two ranks' loaders together visit every sample once (n divisible by ranks)."""
    ds = graphnn.utils.data.TensorDataset(np.arange(12, dtype=np.float32))
    seen = []
    for rank in range(2):
        sampler = DistributedSampler(ds, num_replicas=2, rank=rank, seed=1)
        loader = graphnn.utils.data.DataLoader(ds, batch_size=4, sampler=sampler)
        assert len(loader) == 2
        seen += [v for (b,) in loader for v in b.numpy().tolist()]
    assert sorted(seen) == list(range(12))
