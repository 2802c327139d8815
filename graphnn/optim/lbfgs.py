"""L-BFGS (Nocedal & Wright, Numerical Optimization, algorithms 7.4 and 7.5; the line
search is their strong-Wolfe search, algorithms 3.5 and 3.6), following PyTorch 2.13's
``torch.optim.LBFGS`` step by step.

The vector math runs on the device, in PyTorch's order of operations: the flat gradient
is one concatenation of the gradients per evaluation of ``closure``; the direction ``d``,
the curvature pairs (``old_dirs``, ``old_stps``), their reciprocals ``ro``, ``H_diag`` and
the two-loop recursion's coefficients ``al`` are graphnn tensors (dot products are 0-d
tensors); parameters move by in-place adds of views of the direction, and the line search
restores them from device copies.

Every iteration decides on values (curvature test, descent test, line-search brackets,
stopping rules), and PyTorch reads them on the host with ``bool()`` and ``float()``. Here
the values needed at the same point are stacked and read in one synchronisation: after
an evaluation (or a line search) the loss, the largest gradient magnitude and the next
iteration's curvature ``y . s``; after the recursion ``g . d`` and the largest direction
magnitude; in each line-search evaluation the loss and ``g . d``. A step reads at most
once per evaluation plus twice per iteration, however many parameters there are.
``max|d * t|`` is taken as ``max|d| * |t|`` on the host, the same float32 number, since
rounding is monotonic. The line search's bracketing and cubic interpolation work on these
scalars in float32: a value PyTorch holds in a float32 tensor is ``np.float32`` here
(NumPy 2 promotes ``np.float32 op float`` to float32, as PyTorch promotes a tensor with a
Python number), a Python float stays a Python float. The state holds graphnn tensors
under PyTorch's keys."""
from __future__ import annotations

from typing import Callable

import numpy as np

from graphnn import _ops
from graphnn._tensor import Tensor
from graphnn.autograd import enable_grad, no_grad
from graphnn.ir.types import float32
from graphnn.optim.optimizer import Optimizer, host_scalar, host_value

_f32 = np.float32


def _dot(a: Tensor, b: Tensor) -> Tensor:
    """``a . b`` as a 0-d device tensor: a product and a sum. (The 1-D matmul is one launch,
    but over 100,000 float32 elements it was 1e-5 off PyTorch's dot; the sum matched.)"""
    return (a * b).sum()


def _read(*values) -> list:
    """Host values of 0-d float32 device tensors (as ``np.float32``) in one
    synchronisation: they are stacked on the device and downloaded together. Other values
    pass through, but a tensor of another dtype (a float64 loss) is read on its own."""
    out = list(values)
    at = [i for i, v in enumerate(values) if isinstance(v, Tensor) and v.dtype == float32]
    if at:
        host = _ops.stack([values[i].detach().reshape(()) for i in at])._host()
        for i, v in zip(at, host):
            out[i] = _f32(v)
    return [float(v) if isinstance(v, Tensor) else v for v in out]


def _host_t(t):
    """The step length as the host uses it: a 0-d tensor becomes ``np.float32`` (a float32
    tensor in PyTorch), a Python number stays."""
    if isinstance(t, Tensor):
        return _f32(host_value(t))
    return t


def _state_t(t):
    """The step length as the state keeps it: float32 becomes a 0-d tensor with its host
    copy kept (PyTorch keeps a tensor), a Python number stays."""
    return host_scalar(float(t)) if isinstance(t, np.floating) else t


def _cubic_interpolate(x1, f1, g1, x2, f2, g2, bounds=None):
    """The minimiser of the cubic through two points with their slopes, clamped to
    ``bounds`` (Nocedal & Wright, eq. 3.59)."""
    lo, hi = bounds if bounds is not None else ((x1, x2) if x1 <= x2 else (x2, x1))
    d1 = g1 + g2 - 3 * (f1 - f2) / (x1 - x2)
    d2_square = d1 ** 2 - g1 * g2
    if d2_square >= 0:
        d2 = np.sqrt(d2_square)
        if x1 <= x2:
            min_pos = x2 - (x2 - x1) * ((g2 + d2 - d1) / (g2 - g1 + 2 * d2))
        else:
            min_pos = x1 - (x1 - x2) * ((g1 + d2 - d1) / (g1 - g2 + 2 * d2))
        return min(max(min_pos, lo), hi)
    return (lo + hi) / 2.0


def _strong_wolfe(obj_func, t, d_norm, f, g, gtd, c1=1e-4, c2=0.9, tolerance_change=1e-9,
                  max_ls=25):
    """A step length satisfying the strong Wolfe conditions: bracketing, then zoom.
    ``obj_func(t)`` returns the loss, the flat gradient (a device vector, never written in
    place, so brackets hold it without copies) and the directional derivative (host
    float32) at ``x + t d``; ``d_norm`` is ``max|d|``."""
    f_new, g_new, gtd_new = obj_func(t)
    evals = 1
    t_prev, f_prev, g_prev, gtd_prev = 0, f, g, gtd
    done = False
    it = 0
    while it < max_ls:
        if f_new > (f + c1 * t * gtd) or (it > 1 and f_new >= f_prev):
            bracket, bracket_f = [t_prev, t], [f_prev, f_new]
            bracket_g, bracket_gtd = [g_prev, g_new], [gtd_prev, gtd_new]
            break
        if abs(gtd_new) <= -c2 * gtd:
            bracket, bracket_f, bracket_g = [t], [f_new], [g_new]
            done = True
            break
        if gtd_new >= 0:
            bracket, bracket_f = [t_prev, t], [f_prev, f_new]
            bracket_g, bracket_gtd = [g_prev, g_new], [gtd_prev, gtd_new]
            break
        # extrapolate between 1.01 t and 10 t
        min_step = t + 0.01 * (t - t_prev)
        max_step = t * 10
        tmp = t
        t = _cubic_interpolate(t_prev, f_prev, gtd_prev, t, f_new, gtd_new,
                               bounds=(min_step, max_step))
        t_prev, f_prev, g_prev, gtd_prev = tmp, f_new, g_new, gtd_new
        f_new, g_new, gtd_new = obj_func(t)
        evals += 1
        it += 1
    if it == max_ls:
        bracket, bracket_f, bracket_g = [0, t], [f, f_new], [g, g_new]
    # zoom until the bracket is small or the conditions hold
    insuf_progress = False
    low, high = (0, 1) if bracket_f[0] <= bracket_f[-1] else (1, 0)
    while not done and it < max_ls:
        if abs(bracket[1] - bracket[0]) * d_norm < tolerance_change:
            break
        t = _cubic_interpolate(bracket[0], bracket_f[0], bracket_gtd[0],
                               bracket[1], bracket_f[1], bracket_gtd[1])
        # keep away from the bracket's ends unless progress is poor
        eps = 0.1 * (max(bracket) - min(bracket))
        if min(max(bracket) - t, t - min(bracket)) < eps:
            if insuf_progress or t >= max(bracket) or t <= min(bracket):
                t = max(bracket) - eps if abs(t - max(bracket)) < abs(t - min(bracket)) \
                    else min(bracket) + eps
                insuf_progress = False
            else:
                insuf_progress = True
        else:
            insuf_progress = False
        f_new, g_new, gtd_new = obj_func(t)
        evals += 1
        it += 1
        if f_new > (f + c1 * t * gtd) or f_new >= bracket_f[low]:
            bracket[high], bracket_f[high] = t, f_new
            bracket_g[high], bracket_gtd[high] = g_new, gtd_new
            low, high = (0, 1) if bracket_f[0] <= bracket_f[1] else (1, 0)
        else:
            if abs(gtd_new) <= -c2 * gtd:
                done = True
            elif gtd_new * (bracket[high] - bracket[low]) >= 0:
                bracket[high], bracket_f[high] = bracket[low], bracket_f[low]
                bracket_g[high], bracket_gtd[high] = bracket_g[low], bracket_gtd[low]
            bracket[low], bracket_f[low] = t, f_new
            bracket_g[low], bracket_gtd[low] = g_new, gtd_new
    return bracket_f[low], bracket_g[low], bracket[low], evals


class LBFGS(Optimizer):
    """``torch.optim.LBFGS(params, lr=1, max_iter=20, max_eval=None, tolerance_grad=1e-7,
    tolerance_change=1e-9, history_size=100, line_search_fn=None)``; ``step(closure)``
    re-evaluates the model up to ``max_eval`` times. One parameter group only."""

    def __init__(self, params, lr: float = 1, max_iter: int = 20, max_eval: int | None = None,
                 tolerance_grad: float = 1e-7, tolerance_change: float = 1e-9,
                 history_size: int = 100, line_search_fn: str | None = None):
        if isinstance(lr, Tensor) and lr.numel() != 1:
            raise ValueError("Tensor lr must be 1-element")
        if not 0.0 <= host_value(lr):
            raise ValueError(f"Invalid learning rate: {lr}")
        if max_eval is None:
            max_eval = max_iter * 5 // 4
        defaults = dict(lr=lr, max_iter=max_iter, max_eval=max_eval,
                        tolerance_grad=tolerance_grad, tolerance_change=tolerance_change,
                        history_size=history_size, line_search_fn=line_search_fn)
        super().__init__(params, defaults)
        if len(self.param_groups) != 1:
            raise ValueError("LBFGS doesn't support per-parameter options (parameter groups)")
        self._params = self.param_groups[0]["params"]
        self._numel_cache: int | None = None

    def _numel(self) -> int:
        if self._numel_cache is None:
            self._numel_cache = sum(p.numel() for p in self._params)
        return self._numel_cache

    # -- parameters and gradients as one flat device vector -----------------------------------
    def _gather_flat_grad(self) -> Tensor:
        from graphnn._creation import zeros
        return _ops.cat([zeros(p.numel(), dtype=p.dtype) if p.grad is None
                         else p.grad.detach().reshape(-1) for p in self._params])

    def _add_grad(self, step_size, update: Tensor) -> None:
        """``p += step_size * update`` for each parameter's slice of ``update``, in place."""
        offset = 0
        for p in self._params:
            n = p.numel()
            p.add_(update[offset:offset + n].view_as(p), alpha=float(step_size))
            offset += n
        if offset != self._numel():
            raise AssertionError(f"Expected offset {offset} to equal {self._numel()}")

    def _clone_param(self) -> list[Tensor]:
        return [p.detach().clone() for p in self._params]

    def _set_param(self, values: list[Tensor]) -> None:
        for p, v in zip(self._params, values):
            p.copy_(v)

    def _directional_evaluate(self, closure: Callable, x, t, d):
        """Loss, flat gradient and ``g . d`` at ``x + t d``; the parameters return to
        ``x``. One host read: the loss and ``g . d``."""
        self._add_grad(t, d)
        loss = closure()
        flat_grad = self._gather_flat_grad()
        gtd = _dot(flat_grad, d)
        self._set_param(x)
        loss, gtd = _read(loss, gtd)
        return float(loss), flat_grad, gtd

    @staticmethod
    def _curvature(flat_grad, prev_flat_grad, d, t):
        """The candidate pair of the next iteration, ``y = g - g_prev`` and ``s = t d``, with
        ``y . s`` (computed before it is needed, so that it is read with the loss)."""
        y = flat_grad - prev_flat_grad
        s = d * float(t)
        return y, s, _dot(y, s)

    @staticmethod
    def _direction(flat_grad, old_dirs, old_stps, ro, H_diag, al) -> Tensor:
        """``-H g`` by the two-loop recursion (Nocedal & Wright, algorithm 7.4), with
        ``H_diag`` times the identity as the initial inverse Hessian. ``al`` is filled in
        place; every coefficient stays a 0-d device tensor. ``q - al y`` equals PyTorch's
        ``q.add_(y, alpha=-al)`` exactly (negation is exact)."""
        q = -flat_grad
        for i in range(len(old_dirs) - 1, -1, -1):
            al[i] = _dot(old_stps[i], q) * ro[i]
            q = q - old_dirs[i] * al[i]
        r = q * H_diag
        for i in range(len(old_dirs)):
            be_i = _dot(old_dirs[i], r) * ro[i]
            r = r + old_stps[i] * (al[i] - be_i)
        return r

    # -- the step -----------------------------------------------------------------------------
    def step(self, closure: Callable):
        """Runs up to ``max_iter`` L-BFGS iterations; returns the first loss. Raises
        RuntimeError inside ``graphnn.compile``: its line search reads loss values."""
        from graphnn._trace import current
        if getattr(current(), "whole_step", False):
            raise RuntimeError("LBFGS.step cannot be part of a graphnn.compile step: its line "
                               "search reads loss values on the host; call it outside")
        if len(self.param_groups) != 1:
            raise AssertionError("Expected exactly one param_group, but got "
                                 f"{len(self.param_groups)}")
        with no_grad():
            return self._step(closure)

    def _step(self, closure: Callable):
        def evaluate():
            with enable_grad():
                return closure()

        group = self.param_groups[0]
        lr = host_value(group["lr"])
        max_iter, max_eval = group["max_iter"], group["max_eval"]
        tolerance_grad, tolerance_change = group["tolerance_grad"], group["tolerance_change"]
        line_search_fn, history_size = group["line_search_fn"], group["history_size"]
        state = self.state[self._params[0]]
        state.setdefault("func_evals", 0)
        state.setdefault("n_iter", 0)

        # device tensors (``load_state_dict`` makes them so), except t: a host number
        d, t = state.get("d"), _host_t(state.get("t"))
        old_dirs, old_stps = state.get("old_dirs"), state.get("old_stps")
        ro, H_diag = state.get("ro"), state.get("H_diag")
        prev_flat_grad, prev_loss = state.get("prev_flat_grad"), state.get("prev_loss")

        orig_loss = evaluate()
        current_evals = 1
        state["func_evals"] += 1
        flat_grad = self._gather_flat_grad()
        # one read: the loss, max|g| for the optimality test, and what the first iteration
        # needs: sum|g| for the first step length, or the curvature y . s of the pair
        abs_grad = flat_grad.abs()
        pair = None if state["n_iter"] == 0 else \
            self._curvature(flat_grad, prev_flat_grad, d, t)
        loss, grad_max, extra = _read(orig_loss, abs_grad.max(),
                                      abs_grad.sum() if pair is None else pair[2])
        loss = float(loss)
        grad_sum, ys_host = (extra, None) if pair is None else (None, extra)
        if grad_max <= tolerance_grad:
            return orig_loss

        n_iter = 0
        while n_iter < max_iter:
            n_iter += 1
            state["n_iter"] += 1
            # the direction: steepest descent first, then the two-loop recursion
            if state["n_iter"] == 1:
                d = -flat_grad
                old_dirs, old_stps, ro = [], [], []
                H_diag = 1
            else:
                y, s, ys = pair
                if ys_host > 1e-10:     # the curvature condition: keep the pair
                    if len(old_dirs) == history_size:
                        old_dirs.pop(0)
                        old_stps.pop(0)
                        ro.pop(0)
                    old_dirs.append(y)
                    old_stps.append(s)
                    ro.append(1.0 / ys)
                    H_diag = ys / _dot(y, y)
                al = state.setdefault("al", [None] * history_size)
                d = self._direction(flat_grad, old_dirs, old_stps, ro, H_diag, al)
            prev_flat_grad, prev_loss = flat_grad, loss
            # one read: g . d for the descent test and max|d| for the step tests
            gtd, d_max = _read(_dot(flat_grad, d), d.abs().max())
            # the step length: scaled on the first iteration, else lr
            if state["n_iter"] == 1:
                t = min(1.0, 1.0 / grad_sum) * lr
            else:
                t = lr
            if gtd > -tolerance_change:   # not a descent direction
                break
            ls_func_evals = 0
            if line_search_fn is not None:
                if line_search_fn != "strong_wolfe":
                    raise RuntimeError("only 'strong_wolfe' is supported")
                x_init = self._clone_param()

                def obj_func(step):
                    return self._directional_evaluate(evaluate, x_init, step, d)

                loss, flat_grad, t, ls_func_evals = _strong_wolfe(
                    obj_func, t, d_max, loss, flat_grad, gtd,
                    max_ls=max_eval - current_evals)
                self._add_grad(t, d)
                pair = self._curvature(flat_grad, prev_flat_grad, d, t)
                grad_max, ys_host = _read(flat_grad.abs().max(), pair[2])
                opt_cond = grad_max <= tolerance_grad
            else:
                self._add_grad(t, d)
                opt_cond = False
                if n_iter != max_iter:
                    loss = evaluate()
                    flat_grad = self._gather_flat_grad()
                    pair = self._curvature(flat_grad, prev_flat_grad, d, t)
                    loss, grad_max, ys_host = _read(loss, flat_grad.abs().max(), pair[2])
                    loss = float(loss)
                    opt_cond = grad_max <= tolerance_grad
                    ls_func_evals = 1
            current_evals += ls_func_evals
            state["func_evals"] += ls_func_evals
            # stopping rules, in PyTorch's order
            if n_iter == max_iter or current_evals >= max_eval or opt_cond:
                break
            if d_max * abs(t) <= tolerance_change:   # max|d * t|
                break
            if abs(loss - prev_loss) < tolerance_change:
                break

        state["d"] = d
        state["t"] = _state_t(t)
        state["old_dirs"] = old_dirs
        state["old_stps"] = old_stps
        state["ro"] = ro
        state["H_diag"] = H_diag
        state["prev_flat_grad"] = prev_flat_grad
        state["prev_loss"] = prev_loss
        return orig_loss
