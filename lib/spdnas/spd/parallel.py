"""Independent branches of one network pass run side by side in the spectral worker threads.

A pass of a batched SPD network is a long chain of small tensor ops whose Python dispatch and
autograd bookkeeping cannot use a second core, and torch's autograd engine runs a CPU backward pass
in one thread. When a pass contains independent branches (e.g. the edges of a supernet cell that
read different inputs), :func:`branches` computes them concurrently in the forward pass *and* in the
backward pass: each branch gets its own autograd graph inside one ``autograd.Function``, whose
backward differentiates the branches in the worker threads and sums the gradients of shared inputs.

The values and gradients equal those of the serial computation (up to round-off): the branch
function must be a pure function of its arguments — every tensor whose gradient is needed (module
parameters included) has to be passed as an argument, not read from a module inside the branch.
In-place updates of buffers passed in (batch-norm running means) happen in the branch's thread.
"""

from __future__ import annotations

import torch
from torch.autograd.function import once_differentiable

from . import modules as M
from . import runtime

__all__ = ["branches", "parallel_branches_enabled"]


def parallel_branches_enabled(*tensors: torch.Tensor) -> bool:
    """Whether :func:`branches` runs concurrently for these tensors in the current thread: more
    than one spectral worker (:func:`spdnas.spd.runtime.eigh_workers`) and CPU tensors."""
    return runtime.workers() > 1 and all(t.device.type == "cpu" for t in tensors)


def _settings():
    """Thread settings handed to a branch: the caller's, one spectral worker (no nested fan-out),
    and the caller's frozen-running-statistics flag."""
    return dict(runtime.thread_settings(), workers=1), M.running_stats_frozen()


def _in_settings(settings, call):
    spectral, frozen = settings

    def run():
        with M.frozen_running_stats(frozen), runtime.use_settings(spectral):
            return call()
    return run


def _as_tuple(out, where):
    outs = out if isinstance(out, tuple) else (out,)
    if not outs or not all(isinstance(o, torch.Tensor) for o in outs):
        raise ValueError(f"{where}: a branch must return a tensor or a non-empty tuple of tensors")
    return outs


class _Branches(torch.autograd.Function):
    """Forward: each branch in its own thread and graph; backward: each branch's graph
    differentiated in its own thread, gradients of shared inputs summed in branch order."""

    @staticmethod
    def forward(ctx, plan, *flat):
        fn, layout, settings, shape = plan
        needs = ctx.needs_input_grad[1:]

        def make(slots):
            def run():
                with torch.enable_grad():
                    leaves, args = {}, []
                    for kind, v in slots:
                        if kind == "const":
                            args.append(v)
                            continue
                        if v not in leaves:
                            a = flat[v].detach()
                            leaves[v] = a.requires_grad_() if needs[v] else a
                        args.append(leaves[v])
                    out = fn(*args)
                    return leaves, _as_tuple(out, "branches"), isinstance(out, tuple)
            return run

        results = runtime.fan_out([_in_settings(settings, make(s)) for s in layout])
        shape.extend((len(outs), is_tuple) for _, outs, is_tuple in results)  # read by branches()
        ctx.results = [(leaves, outs) for leaves, outs, _ in results]
        ctx.settings, ctx.nflat, ctx.counts = settings, len(flat), [c for c, _ in shape]
        return tuple(o.detach() for _, outs, _ in results for o in outs)

    @staticmethod
    @once_differentiable
    def backward(ctx, *gouts):
        results, pos, calls = ctx.results, 0, []
        for (leaves, outs), count in zip(results, ctx.counts):
            grads = gouts[pos:pos + count]
            pos += count

            def run(leaves=leaves, outs=outs, grads=grads):
                keys = [k for k, a in leaves.items() if a.requires_grad]
                pairs = [(o, g) for o, g in zip(outs, grads) if g is not None and o.requires_grad]
                if not keys or not pairs:
                    return {}
                # retain_graph: the branch graphs live as long as this node (a retained outer graph
                # may be differentiated again)
                got = torch.autograd.grad([o for o, _ in pairs], [leaves[k] for k in keys], [g for _, g in pairs],
                                          retain_graph=True, allow_unused=True)
                return {k: g for k, g in zip(keys, got) if g is not None}
            calls.append(_in_settings(ctx.settings, run))
        total = [None] * ctx.nflat
        for part in runtime.fan_out(calls):
            for k, g in part.items():
                total[k] = g if total[k] is None else total[k] + g
        return (None, *total)


def branches(fn, args_list) -> list:
    """``[fn(*args) for args in args_list]``, the branches computed concurrently where that pays.

    ``fn`` returns a tensor or a tuple of tensors and must be a pure function of its arguments
    (tensors it needs gradients for are arguments; see the module docstring). Tensors shared by
    several branches get the sum of their gradients. Runs serially, on the caller's autograd graph,
    with one spectral worker, on non-CPU tensors or for a single branch; concurrently otherwise
    (forward and backward). Higher-order gradients through the concurrent form are not supported.
    """
    args_list = [tuple(a) for a in args_list]
    if not callable(fn) or not args_list:
        raise ValueError("branches: need a callable and a non-empty list of argument tuples")
    tensors = [a for args in args_list for a in args if isinstance(a, torch.Tensor)]
    if len(args_list) == 1 or not parallel_branches_enabled(*tensors):
        return [fn(*args) for args in args_list]
    settings = _settings()
    if not (torch.is_grad_enabled() and any(t.requires_grad for t in tensors)):
        grad = torch.is_grad_enabled()  # worker threads start with gradients on

        def plain(args):
            with torch.set_grad_enabled(grad):
                return fn(*args)
        return runtime.fan_out([_in_settings(settings, lambda args=args: plain(args)) for args in args_list])
    index, flat, layout = {}, [], []
    for args in args_list:
        slots = []
        for a in args:
            if isinstance(a, torch.Tensor):
                if id(a) not in index:
                    index[id(a)] = len(flat)
                    flat.append(a)
                slots.append(("tensor", index[id(a)]))
            else:
                slots.append(("const", a))
        layout.append(slots)
    shape: list = []  # (number of outputs, returned a tuple) per branch, filled by the forward
    flat_out = _Branches.apply((fn, layout, settings, shape), *flat)
    out, pos = [], 0
    for count, is_tuple in shape:
        part = tuple(flat_out[pos:pos + count])
        pos += count
        out.append(part if is_tuple else part[0])
    return out
