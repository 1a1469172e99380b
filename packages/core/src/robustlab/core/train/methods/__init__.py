"""Built-in training methods; importing this package registers them in ``METHODS``."""

from robustlab.core.train.methods import (  # noqa: F401
    adversarial,
    awp,
    free,
    lbgat,
    natural,
    regularizers,
    trades,
)
