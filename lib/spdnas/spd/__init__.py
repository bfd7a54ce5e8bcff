"""SPD matrix functions, Riemannian geometry, layers and models.

``spdnas.spd.functional`` holds the autograd spectral functions (like ``torch.nn.functional``);
the layers are ``torch.nn`` modules re-exported here.
"""

from . import functional, geometry, parallel, products, small_eigh
from .functional import (
    check_spd,
    check_symmetric,
    checks,
    expm,
    invsqrtm,
    logm,
    powm,
    reeig,
    set_checks,
    sqrtm,
    sqrtm_invsqrtm,
    sym,
    unvec_upper,
    vec_upper,
)
from .geometry import distance, exp_map, frechet_mean, geodesic, log_euclidean_mean, log_map, transport
from .models import SPDNet, SPDNetBN
from .modules import (
    BiMap,
    ExpEig,
    LogEig,
    ReEig,
    SkipReduced,
    SPDBatchNorm,
    SPDPool2d,
    VecUpper,
    WeightedFrechetMean,
    sparsemax,
    stiefel_init,
)
from .optim import riemannian_optimizer, split_parameters
from .covariance import (
    CovPool,
    WindowedCovPool,
    complex_to_real_spd,
    covariance,
    frame_signal,
    shrinkage_coefficient,
    windowed_covariance,
)
