"""The default process group over MPI: set-up and tear-down, the worker thread that makes
every MPI call, timeouts, and what happens when a rank fails.

All of graphnn's MPI traffic goes through one daemon thread per group, in the order the
collectives were called, on a duplicate of ``MPI_COMM_WORLD`` (the user's own mpi4py
messages never mix with it). The caller waits for its result with the group's timeout, so
a rank whose peer died or called another collective raises ``DistBackendError`` instead of
hanging, and DDP's bucket reductions run while the main thread goes on with backward."""
from __future__ import annotations

import atexit
import enum
import os
import queue
import signal
import sys
import threading
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from datetime import timedelta
from importlib.util import find_spec
from typing import Any, Callable

# PyTorch's default for the gloo and MPI backends
default_pg_timeout = timedelta(minutes=30)

_NOT_INITIALIZED = ("Default process group has not been initialized, please make sure to call "
                    "init_process_group.")


class DistError(RuntimeError):
    """Base of the errors raised by ``graphnn.distributed`` (``torch.distributed.DistError``)."""


class DistBackendError(DistError):
    """A collective failed or timed out in the MPI backend."""


class RedOpType(enum.IntEnum):
    SUM = 0
    AVG = 1
    PRODUCT = 2
    MIN = 3
    MAX = 4
    BAND = 5
    BOR = 6
    BXOR = 7
    PREMUL_SUM = 8


class ReduceOp:
    """The reductions of ``all_reduce`` and ``reduce_scatter`` (``torch.distributed.ReduceOp``):
    ``ReduceOp.SUM``, ``AVG`` (floating-point tensors only), ``PRODUCT``, ``MIN``, ``MAX``
    and the bitwise ``BAND``, ``BOR``, ``BXOR`` (integer and bool tensors)."""

    RedOpType = RedOpType
    SUM = RedOpType.SUM
    AVG = RedOpType.AVG
    PRODUCT = RedOpType.PRODUCT
    MIN = RedOpType.MIN
    MAX = RedOpType.MAX
    BAND = RedOpType.BAND
    BOR = RedOpType.BOR
    BXOR = RedOpType.BXOR
    PREMUL_SUM = RedOpType.PREMUL_SUM


class Backend(str):
    """Backend names (``torch.distributed.Backend``); graphnn has one, ``mpi``."""

    MPI = "mpi"
    UNDEFINED = "undefined"


@dataclass(eq=False)
class ProcessGroup:
    """The ranks of ``MPI_COMM_WORLD`` and the thread that talks to them."""

    comm: Any                   # mpi4py communicator, a duplicate of MPI_COMM_WORLD
    rank: int
    size: int
    timeout: float              # seconds a caller waits for one collective
    jobs: queue.Queue = field(default_factory=queue.Queue)
    thread: threading.Thread | None = None
    broken: str | None = None   # why a collective could not finish; later ones refuse

    def start(self) -> None:
        self.thread = threading.Thread(target=self._serve, name="graphnn-mpi", daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            item = self.jobs.get()
            if item is None:
                return
            fn, future = item
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(fn())
            except BaseException as e:  # handed to the caller's thread
                future.set_exception(e)

    def submit(self, fn: Callable[[], Any]) -> Future:
        """Runs ``fn`` on the group's thread after every job submitted before it."""
        if self.broken is not None:
            raise DistBackendError(f"the process group is broken: {self.broken}")
        future: Future = Future()
        self.jobs.put((fn, future))
        return future

    def wait(self, future: Future, what: str, timeout: float | None = None) -> Any:
        """``future``'s result; DistBackendError after ``timeout`` (default: the group's)."""
        limit = self.timeout if timeout is None else timeout
        try:
            return future.result(timeout=limit)
        except FutureTimeout:
            self.broken = f"{what} timed out on rank {self.rank}"
            raise DistBackendError(
                f"{what}: rank {self.rank} of {self.size} waited {limit:g} s for the other "
                "ranks and timed out: a rank failed, exited, or called another collective. "
                "Set the limit with init_process_group(timeout=...).") from None

    def agree(self, what: str, signature: tuple) -> list:
        """Exchanges ``signature`` (the collective and its arguments' shapes) with every
        rank; returns all of them. Raises RuntimeError, on every rank alike, when the ranks
        called different collectives. Runs on the group's thread."""
        sigs = self.comm.allgather(signature)
        names = [s[0] for s in sigs]
        if len(set(names)) > 1:
            calls = ", ".join(f"rank {r}: {n}" for r, n in enumerate(names))
            raise RuntimeError(f"{what}: the ranks called different collectives ({calls}); "
                               "every rank must call the same collectives in the same order")
        return sigs

    def close(self) -> None:
        if self.thread is not None and self.broken is None:
            self.jobs.put(None)
            self.thread.join()
        self.thread = None


_DEFAULT: list[ProcessGroup | None] = [None]


class group:
    """``torch.distributed.group``: ``group.WORLD`` is the default group once initialised."""

    WORLD: ProcessGroup | None = None


def _mpi():
    try:
        from mpi4py import MPI
    except ImportError as e:
        raise RuntimeError("init_process_group: backend='mpi' needs mpi4py and an MPI "
                           "library: pip install 'graphnn[mpi]'") from e
    return MPI


def is_available() -> bool:
    """Whether ``graphnn.distributed`` can be used (always: the package is pure Python)."""
    return True


def is_mpi_available() -> bool:
    """Whether mpi4py is installed (without importing it: that initialises MPI)."""
    return find_spec("mpi4py") is not None


def is_initialized() -> bool:
    """Whether ``init_process_group`` has been called (and the group not destroyed)."""
    return _DEFAULT[0] is not None


def default_group(fn: str, grp=None) -> ProcessGroup:
    """The default group, for collective ``fn``. Raises ValueError before
    ``init_process_group`` (PyTorch's message) and for another ``group`` argument."""
    pg = _DEFAULT[0]
    if pg is None:
        raise ValueError(_NOT_INITIALIZED)
    if grp is not None and grp is not pg:
        raise ValueError(f"{fn}: argument 'group' must be None or group.WORLD: graphnn has "
                         "only the default process group")
    return pg


def init_process_group(backend: str | None = None, init_method: str | None = None,
                       timeout: timedelta | None = None, world_size: int = -1,
                       rank: int = -1, store=None, group_name: str = "", pg_options=None,
                       device_id=None) -> None:
    """Joins the default process group: every process of the MPI job (``mpirun -n N``).

    ``backend``: ``"mpi"`` (also the default). As with PyTorch's MPI backend the rank and the
    world size come from MPI; ``world_size`` and ``rank``, when given, must agree with
    them; ``init_method`` and ``store`` are not used. ``timeout``: how long a collective
    waits for the other ranks before raising ``DistBackendError`` (default 30 minutes).

    From here on, an exception that ends the program on one rank aborts the whole job
    (``MPI_Abort``) so that the other ranks stop instead of waiting for it. Raises
    ValueError when called twice or for another backend, TypeError for a timeout that is
    not a ``timedelta``, RuntimeError when mpi4py is missing."""
    if _DEFAULT[0] is not None:
        raise ValueError("trying to initialize the default process group twice!")
    name = "mpi" if backend is None else str(backend).lower()
    if name != "mpi":
        raise ValueError(f"init_process_group: backend {backend!r} is not available in "
                         "graphnn; use backend='mpi' (run the script under mpirun)")
    if timeout is None:
        timeout = default_pg_timeout
    if not isinstance(timeout, timedelta):
        raise TypeError("Expected timeout argument to be of type datetime.timedelta")
    MPI = _mpi()
    comm = MPI.COMM_WORLD.Dup()
    r, n = comm.Get_rank(), comm.Get_size()
    for arg, given, actual in (("world_size", world_size, n), ("rank", rank, r)):
        if given not in (-1, None) and int(given) != actual:
            comm.Free()
            raise ValueError(f"init_process_group: argument '{arg}' is {given} but MPI says "
                             f"{actual}; with backend='mpi' mpirun decides both")
    pg = ProcessGroup(comm, r, n, timeout.total_seconds())
    pg.start()
    _DEFAULT[0] = group.WORLD = pg
    if n > 1:
        _install_failure_handlers(pg)


def destroy_process_group(group=None) -> None:
    """Leaves the default group: waits for its pending collectives, frees the communicator.
    Raises AssertionError when there is none (PyTorch's message)."""
    pg = _DEFAULT[0]
    if pg is None:
        raise AssertionError("Process group cannot be None")
    pg.close()
    if pg.broken is None:
        pg.comm.Free()
    _DEFAULT[0] = globals()["group"].WORLD = None


def get_rank(group=None) -> int:
    """This process's rank in ``[0, world size)``. Raises ValueError before init."""
    return default_group("get_rank", group).rank


def get_world_size(group=None) -> int:
    """The number of processes in the group. Raises ValueError before init."""
    return default_group("get_world_size", group).size


def get_backend(group=None) -> str:
    """``"mpi"``. Raises ValueError before init."""
    default_group("get_backend", group)
    return Backend.MPI


def barrier(group=None, async_op: bool = False, device_ids=None, timeout=None):
    """Blocks until every rank called ``barrier``. ``timeout``: a ``timedelta`` overriding
    the group's. Raises RuntimeError when another rank called another collective,
    DistBackendError on timeout."""
    pg = default_group("barrier", group)
    future = pg.submit(lambda: pg.agree("barrier", ("barrier",)))
    work = Work(pg, future, "barrier")
    if async_op:
        return work
    work.wait(timeout)
    return None


class Work:
    """A collective in flight (``torch.distributed.Work``): ``wait()`` blocks until it is
    done and its result is in the tensors, ``is_completed()`` asks without blocking."""

    def __init__(self, pg: ProcessGroup, future: Future, what: str,
                 finish: Callable[[], None] | None = None):
        self.pg, self.future, self.what, self.finish = pg, future, what, finish
        self.done = False

    def wait(self, timeout: timedelta | None = None) -> bool:
        """Waits (``timeout`` or the group's), then writes the result into the output
        tensors on this thread. Raises what the collective raised, or DistBackendError."""
        if not self.done:
            self.pg.wait(self.future, self.what,
                         None if timeout is None else timeout.total_seconds())
            self.done = True
            if self.finish is not None:
                self.finish()
        return True

    def is_completed(self) -> bool:
        return self.done or self.future.done()

    def is_success(self) -> bool:
        return self.future.done() and self.future.exception() is None

    def exception(self):
        return self.future.exception() if self.future.done() else None


def _install_failure_handlers(pg: ProcessGroup) -> None:
    """An uncaught exception on one rank aborts the job: without this the other ranks wait
    in their next collective, and the failed rank's own exit waits in MPI_Finalize for
    them. mpirun then stops the other ranks with SIGTERM; they say why before exiting."""
    previous = sys.excepthook

    def abort_on_exception(exc_type, exc, tb):
        previous(exc_type, exc, tb)
        if _DEFAULT[0] is pg and not issubclass(exc_type, SystemExit):
            sys.stderr.write(f"graphnn.distributed: rank {pg.rank} of {pg.size} failed with "
                             f"{exc_type.__name__}; aborting all ranks (MPI_Abort)\n")
            sys.stderr.flush()
            _mpi().COMM_WORLD.Abort(1)

    sys.excepthook = abort_on_exception

    def on_sigterm(signum, frame):
        sys.stderr.write(f"graphnn.distributed: rank {pg.rank} of {pg.size} stopped by "
                         f"signal {signum}: the MPI job is being terminated (another rank "
                         "failed or mpirun was interrupted)\n")
        sys.stderr.flush()
        os._exit(128 + signum)  # a normal exit would wait in MPI_Finalize for dead ranks

    if threading.current_thread() is threading.main_thread() and \
            signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        signal.signal(signal.SIGTERM, on_sigterm)

    def abort_if_broken():
        # a timed-out collective still holds the MPI thread: MPI_Finalize would hang
        if _DEFAULT[0] is pg and pg.broken is not None:
            sys.stderr.write(f"graphnn.distributed: rank {pg.rank} exits with a broken "
                             f"process group ({pg.broken}); aborting all ranks\n")
            sys.stderr.flush()
            _mpi().COMM_WORLD.Abort(1)

    atexit.register(abort_if_broken)
