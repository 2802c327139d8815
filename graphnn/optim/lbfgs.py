"""L-BFGS (Nocedal & Wright, Numerical Optimization, algorithms 7.4 and 7.5; the line
search is their strong-Wolfe search, algorithms 3.5 and 3.6), following PyTorch 2.13's
``torch.optim.LBFGS`` step by step.

Every iteration of L-BFGS decides on values (curvature tests, line-search brackets,
stopping rules), so PyTorch reads them on the host as well. Here the two-loop recursion
and the line search run on the host with numpy in float32: a value PyTorch holds in a
float32 tensor is a float32 array or ``np.float32`` scalar (NumPy 2 promotes
``np.float32 op float`` to float32, as PyTorch promotes a tensor with a Python number), a
Python float stays a Python float. Parameters are written to the device before each call
of ``closure``, which runs the model as usual. The state holds graphnn tensors (with host
copies, so reading them costs no device round trip) under PyTorch's keys."""
from __future__ import annotations

from typing import Callable

import numpy as np

from graphnn._tensor import Tensor
from graphnn.autograd import enable_grad, no_grad
from graphnn.optim.optimizer import Optimizer, host_scalar, host_value

_f32 = np.float32


def _dev(value):
    """A host value as the state keeps it: float32 arrays and scalars become graphnn
    tensors with a host copy; Python numbers stay."""
    if isinstance(value, np.ndarray):
        from graphnn._creation import tensor
        t = tensor(value)
        t._storage.remember_host(value.copy())
        return t
    if isinstance(value, np.floating):
        return host_scalar(float(value))
    if isinstance(value, list):
        return [_dev(v) for v in value]
    return value


def _host(value):
    """A state value as the host computation uses it (the inverse of ``_dev``)."""
    if isinstance(value, Tensor):
        arr = value.detach()._host()
        return _f32(arr) if arr.ndim == 0 else arr.astype(np.float32)
    if isinstance(value, list):
        return [_host(v) for v in value]
    if hasattr(value, "detach"):    # a torch tensor from a loaded state dict
        arr = value.detach().cpu().numpy()
        return _f32(arr) if arr.ndim == 0 else arr.astype(np.float32)
    return value


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


def _strong_wolfe(obj_func, x, t, d, f, g, gtd, c1=1e-4, c2=0.9, tolerance_change=1e-9,
                  max_ls=25):
    """A step length satisfying the strong Wolfe conditions: bracketing, then zoom."""
    d_norm = np.abs(d).max()
    g = g.copy()
    f_new, g_new = obj_func(x, t, d)
    evals = 1
    gtd_new = g_new.dot(d)
    t_prev, f_prev, g_prev, gtd_prev = 0, f, g, gtd
    done = False
    it = 0
    while it < max_ls:
        if f_new > (f + c1 * t * gtd) or (it > 1 and f_new >= f_prev):
            bracket, bracket_f = [t_prev, t], [f_prev, f_new]
            bracket_g, bracket_gtd = [g_prev, g_new.copy()], [gtd_prev, gtd_new]
            break
        if abs(gtd_new) <= -c2 * gtd:
            bracket, bracket_f, bracket_g = [t], [f_new], [g_new]
            done = True
            break
        if gtd_new >= 0:
            bracket, bracket_f = [t_prev, t], [f_prev, f_new]
            bracket_g, bracket_gtd = [g_prev, g_new.copy()], [gtd_prev, gtd_new]
            break
        # extrapolate between 1.01 t and 10 t
        min_step = t + 0.01 * (t - t_prev)
        max_step = t * 10
        tmp = t
        t = _cubic_interpolate(t_prev, f_prev, gtd_prev, t, f_new, gtd_new,
                               bounds=(min_step, max_step))
        t_prev, f_prev, g_prev, gtd_prev = tmp, f_new, g_new.copy(), gtd_new
        f_new, g_new = obj_func(x, t, d)
        evals += 1
        gtd_new = g_new.dot(d)
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
        f_new, g_new = obj_func(x, t, d)
        evals += 1
        gtd_new = g_new.dot(d)
        it += 1
        if f_new > (f + c1 * t * gtd) or f_new >= bracket_f[low]:
            bracket[high], bracket_f[high] = t, f_new
            bracket_g[high], bracket_gtd[high] = g_new.copy(), gtd_new
            low, high = (0, 1) if bracket_f[0] <= bracket_f[1] else (1, 0)
        else:
            if abs(gtd_new) <= -c2 * gtd:
                done = True
            elif gtd_new * (bracket[high] - bracket[low]) >= 0:
                bracket[high], bracket_f[high] = bracket[low], bracket_f[low]
                bracket_g[high], bracket_gtd[high] = bracket_g[low], bracket_gtd[low]
            bracket[low], bracket_f[low] = t, f_new
            bracket_g[low], bracket_gtd[low] = g_new.copy(), gtd_new
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

    # -- parameters and gradients as one float32 host vector ----------------------------------
    def _gather_flat_grad(self) -> np.ndarray:
        parts = [np.zeros(p.numel(), np.float32) if p.grad is None
                 else p.grad.detach()._host().reshape(-1).astype(np.float32)
                 for p in self._params]
        return np.concatenate(parts)

    def _get_params(self) -> list[np.ndarray]:
        return [p.detach()._host().astype(np.float32) for p in self._params]

    def _set_params(self, values: list[np.ndarray]) -> None:
        for p, v in zip(self._params, values):
            p._write_host(v)
        self._x = [v.copy() for v in values]

    def _add_grad(self, step_size, update: np.ndarray) -> None:
        """p += step_size * update, in float32 as PyTorch's ``add_(alpha=...)``."""
        alpha = _f32(step_size)
        new, offset = [], 0
        for x in self._x:
            n = x.size
            new.append(x + alpha * update[offset:offset + n].reshape(x.shape))
            offset += n
        if offset != self._numel():
            raise AssertionError(f"Expected offset {offset} to equal {self._numel()}")
        self._set_params(new)

    def _directional_evaluate(self, closure: Callable, x, t, d):
        self._add_grad(t, d)
        loss = float(closure())
        flat_grad = self._gather_flat_grad()
        self._set_params(x)
        return loss, flat_grad

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
        self._x = self._get_params()

        orig_loss = evaluate()
        loss = float(orig_loss)
        current_evals = 1
        state["func_evals"] += 1
        flat_grad = self._gather_flat_grad()
        if np.abs(flat_grad).max() <= _f32(tolerance_grad):
            return orig_loss

        d, t = _host(state.get("d")), _host(state.get("t"))
        old_dirs, old_stps = _host(state.get("old_dirs")), _host(state.get("old_stps"))
        ro, H_diag = _host(state.get("ro")), _host(state.get("H_diag"))
        prev_flat_grad, prev_loss = _host(state.get("prev_flat_grad")), state.get("prev_loss")
        al = _host(state["al"]) if "al" in state else None

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
                y = flat_grad - prev_flat_grad
                s = d * t
                ys = y.dot(s)
                if ys > 1e-10:   # curvature condition: keep the pair
                    if len(old_dirs) == history_size:
                        old_dirs.pop(0)
                        old_stps.pop(0)
                        ro.pop(0)
                    old_dirs.append(y)
                    old_stps.append(s)
                    ro.append(1.0 / ys)
                    H_diag = ys / y.dot(y)
                num_old = len(old_dirs)
                if al is None:
                    al = [None] * history_size
                q = -flat_grad
                for i in range(num_old - 1, -1, -1):
                    al[i] = old_stps[i].dot(q) * ro[i]
                    q = q + _f32(-al[i]) * old_dirs[i]
                d = r = q * _f32(H_diag)
                for i in range(num_old):
                    be_i = old_dirs[i].dot(r) * ro[i]
                    r += _f32(al[i] - be_i) * old_stps[i]
            prev_flat_grad = flat_grad.copy()
            prev_loss = loss
            # the step length: scaled on the first iteration, else lr
            if state["n_iter"] == 1:
                t = min(1.0, 1.0 / np.abs(flat_grad).sum()) * lr
            else:
                t = lr
            gtd = flat_grad.dot(d)
            if gtd > -tolerance_change:   # not a descent direction
                break
            ls_func_evals = 0
            if line_search_fn is not None:
                if line_search_fn != "strong_wolfe":
                    raise RuntimeError("only 'strong_wolfe' is supported")
                x_init = [x.copy() for x in self._x]

                def obj_func(x, t, d):
                    return self._directional_evaluate(evaluate, x, t, d)

                loss, flat_grad, t, ls_func_evals = _strong_wolfe(
                    obj_func, x_init, t, d, loss, flat_grad, gtd,
                    max_ls=max_eval - current_evals)
                self._add_grad(t, d)
                opt_cond = np.abs(flat_grad).max() <= _f32(tolerance_grad)
            else:
                self._add_grad(t, d)
                opt_cond = False
                if n_iter != max_iter:
                    loss = float(evaluate())
                    flat_grad = self._gather_flat_grad()
                    opt_cond = np.abs(flat_grad).max() <= _f32(tolerance_grad)
                    ls_func_evals = 1
            current_evals += ls_func_evals
            state["func_evals"] += ls_func_evals
            # stopping rules, in PyTorch's order
            if n_iter == max_iter or current_evals >= max_eval or opt_cond:
                break
            if np.abs(d * _f32(t)).max() <= _f32(tolerance_change):
                break
            if abs(loss - prev_loss) < tolerance_change:
                break

        state["d"] = _dev(d)
        state["t"] = _dev(t)
        state["old_dirs"] = _dev(old_dirs)
        state["old_stps"] = _dev(old_stps)
        state["ro"] = _dev(ro)
        state["H_diag"] = _dev(H_diag)
        state["prev_flat_grad"] = _dev(prev_flat_grad)
        state["prev_loss"] = prev_loss
        if al is not None:
            state["al"] = _dev(al)
        return orig_loss
