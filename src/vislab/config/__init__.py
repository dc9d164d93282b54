"""Typed configuration: the schema (``schema``), its resolution from recipes and overrides (``resolve``),
and YAML in and out (``yaml_io``). Everything other modules use is importable from here."""

from .resolve import RECIPES_DIR, check_key, load_recipe, parse_override, recipe_names, resolve
from .schema import (
    AugConfig,
    AugMixConfig,
    AutoAugmentConfig,
    ColorJitterConfig,
    Config,
    DataConfig,
    EmaConfig,
    EvalConfig,
    LossConfig,
    MixConfig,
    MixStyleConfig,
    ModelConfig,
    OptimConfig,
    ProgressiveConfig,
    RandAugmentConfig,
    RandomCropConfig,
    SchedConfig,
    SemisupConfig,
    TaskConfig,
    TrainConfig,
    all_keys,
    check_values,
    flatten,
    opt,
    to_dict,
)
from .yaml_io import dump_commented, read_yaml, save, yaml_dump, yaml_load

__all__ = [
    "RECIPES_DIR", "AugConfig", "AugMixConfig", "AutoAugmentConfig", "ColorJitterConfig", "Config", "DataConfig", "EmaConfig", "EvalConfig", "LossConfig", "MixConfig",
    "MixStyleConfig", "ModelConfig", "OptimConfig", "ProgressiveConfig", "RandAugmentConfig", "RandomCropConfig", "SchedConfig", "SemisupConfig", "TaskConfig", "TrainConfig", "all_keys",
    "check_key", "check_values", "dump_commented", "flatten", "load_recipe", "opt", "parse_override", "read_yaml", "recipe_names",
    "resolve", "save", "to_dict", "yaml_dump", "yaml_load",
]
