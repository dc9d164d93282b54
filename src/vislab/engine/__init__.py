"""The training loop on Lightning Fabric, its checkpoints, optimizers, schedules and logging."""

from .checkpoint import describe_checkpoint, evaluated_weights, load_checkpoint, save_checkpoint, seed_all
from .hardware import configure_backends, describe_device, make_fabric
from .evaluation import evaluate, make_loader, predictions
from .fit import TrainingDiverged, fit, train_one_epoch
from .weights import load_weights, unwrap

__all__ = [
    "TrainingDiverged", "configure_backends", "describe_checkpoint", "describe_device", "evaluate", "evaluated_weights", "fit", "load_checkpoint", "load_weights",
    "make_fabric", "make_loader", "predictions", "save_checkpoint", "seed_all", "train_one_epoch", "unwrap",
]
