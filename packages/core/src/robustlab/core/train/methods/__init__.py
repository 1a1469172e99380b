"""Built-in training methods; importing this package registers them in ``METHODS``."""

from robustlab.core.train.methods import natural  # noqa: F401
