"""Random SPD / symmetric test matrices."""

import numpy as np
import torch


def rand_spd(*batch, n=5, dtype=torch.float64, cond=10.0, gen=None):
    """Random SPD matrices with eigenvalues log-uniform in [1, cond]."""
    A = torch.randn(*batch, n, n, dtype=dtype, generator=gen)
    Q, _ = torch.linalg.qr(A)
    lam = torch.exp(torch.rand(*batch, n, dtype=dtype, generator=gen) * np.log(cond))
    return (Q * lam.unsqueeze(-2)) @ Q.transpose(-1, -2)


def rand_sym(*batch, n=5, dtype=torch.float64):
    """Random symmetric matrices."""
    A = torch.randn(*batch, n, n, dtype=dtype)
    return 0.5 * (A + A.transpose(-1, -2))
