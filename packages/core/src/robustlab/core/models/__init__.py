"""The model zoo: ``build(name, num_classes, in_channels, **opts) -> Classifier``.

Every model exposes ``features(x) -> (B, D)``, a replaceable ``head`` and ``forward = head(features)``.
One architecture family per module; importing this package registers them all in ``MODELS``.
"""

from robustlab.core.models import (  # noqa: F401  (importing registers the zoo)
    cnn,
    lenet,
    preact_resnet,
    resnet,
    resnet_cifar,
    smallcnn,
    vgg,
    wide_resnet,
    wrn_imagenet,
)
from robustlab.core.models.base import Classifier, Normalize
from robustlab.core.models.checkpoint import load_checkpoint, load_model, save_checkpoint
from robustlab.core.models.drop import Disout, DropBlock, DropConnectLinear, Dropout
from robustlab.core.models.heads import (
    EmbeddingHead,
    LinearHead,
    MultiSampleDropoutHead,
    NormalizedLinearHead,
    build_head,
)
from robustlab.core.models.map_drop import add_map_drop
from robustlab.core.models.zoo import MODELS, ModelSpec, build, model_spec, names, register_model

__all__ = [
    "MODELS",
    "Classifier",
    "Disout",
    "DropBlock",
    "DropConnectLinear",
    "Dropout",
    "EmbeddingHead",
    "LinearHead",
    "ModelSpec",
    "MultiSampleDropoutHead",
    "Normalize",
    "NormalizedLinearHead",
    "add_map_drop",
    "build",
    "build_head",
    "load_checkpoint",
    "load_model",
    "model_spec",
    "names",
    "register_model",
    "save_checkpoint",
]
