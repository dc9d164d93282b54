"""The configuration schema: one typed dataclass per section, each key with its one-line help, and the
range rules that types cannot express. Resolution (recipes, overrides) is in ``resolve``, YAML in ``yaml_io``.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import types
import typing
from dataclasses import dataclass, field, is_dataclass
from typing import Any, Literal, Union

from ..errors import VislabError



def opt(default: Any, help: str, range: str | None = None) -> Any:
    """A dataclass field with its one-line comment (printed by ``vislab recipes NAME``) and, for numbers, its
    range rule in interval notation: ``"[1, inf)"``, ``"[0, 1)"``, ``"(0, 1]"`` (checked by ``check_values``)."""
    metadata = {"help": help, "range": parse_interval(range)} if range else {"help": help}
    if isinstance(default, (list, dict)) or is_dataclass(default):
        return field(default_factory=lambda: copy.deepcopy(default), metadata=metadata)
    return field(default=default, metadata=metadata)


@dataclass(frozen=True)
class Range:
    """An interval of allowed numbers; ``closed`` says whether each end belongs to it."""

    low: float
    high: float
    closed: tuple[bool, bool]

    def __contains__(self, v: float) -> bool:
        above = v >= self.low if self.closed[0] else v > self.low
        below = v <= self.high if self.closed[1] else v < self.high
        return above and below

    def describe(self) -> str:
        if self.high == float("inf") and self.closed[0]:
            return "must not be negative" if self.low == 0 else f"must be at least {self.low:g}"
        if self.high == float("inf"):
            return f"must be greater than {self.low:g}"
        return f"must be in {'[(' [not self.closed[0]]}{self.low:g}, {self.high:g}{'])'[not self.closed[1]]}"


def parse_interval(text: str) -> Range:
    """``"[0, 1)"`` -> Range(0, 1, (True, False)); ``inf`` stands for no upper bound."""
    low, high = (float(x) for x in text[1:-1].split(","))
    return Range(low, high, (text[0] == "[", text[-1] == "]"))


# ----------------------------------------------------------------------------------------------
# The schema
# ----------------------------------------------------------------------------------------------


@dataclass
class RandomCropConfig:
    size: Union[int, list[int]] = opt(32, "crop size, an int or [H, W]")
    padding: Union[int, list[int], None] = opt(None, "pixels padded on each border before cropping")
    padding_mode: Literal["constant", "edge", "reflect", "symmetric"] = opt("constant", "how padding is filled")
    pad_if_needed: bool = opt(False, "pad images smaller than the crop (masks padded with the ignore index)")


@dataclass
class ColorJitterConfig:
    brightness: float = opt(0.4, "brightness jitter factor")
    contrast: float = opt(0.4, "contrast jitter factor")
    saturation: float = opt(0.4, "saturation jitter factor (colour images)")
    hue: float = opt(0.0, "hue jitter, at most 0.5")


@dataclass
class MixConfig:
    p: float = opt(1.0, "probability that a batch is mixed", range="[0, 1]")
    alpha: float = opt(1.0, "Beta(alpha, alpha) draws the mixing proportion", range="(0, inf)")


@dataclass
class RandAugmentConfig:
    num_ops: int = opt(2, "operations applied in sequence per image", range="[0, inf)")
    magnitude: int = opt(9, "strength of each operation, 0 to num_magnitude_bins - 1", range="[0, inf)")
    num_magnitude_bins: int = opt(31, "steps between no change and the strongest", range="[2, inf)")


@dataclass
class AutoAugmentConfig:
    policy: Literal["imagenet", "cifar10", "svhn"] = opt("imagenet", "the learned policy (AutoAugment paper)")


@dataclass
class AugMixConfig:
    severity: int = opt(3, "strength of the operations, 1 to 10", range="[1, 10]")
    mixture_width: int = opt(3, "augmentation chains mixed", range="[1, inf)")
    chain_depth: int = opt(-1, "operations per chain; -1: 1 to 3 at random")
    alpha: float = opt(1.0, "Dirichlet and Beta parameter of the mixing weights", range="(0, inf)")


@dataclass
class AugConfig:
    rotation: Union[float, None] = opt(None, "random rotation within +-degrees (masks nearest, filled with ignore)")
    random_crop: Union[RandomCropConfig, None] = opt(None, "random crop; null: off")
    resize: Union[int, list[int], None] = opt(None, "resize to [H, W] (masks nearest)")
    interpolation: Literal["nearest", "bilinear", "bicubic"] = opt("bilinear", "interpolation for image resizing")
    random_resize: Union[list[float], None] = opt(None, "random rescale by a factor in [min, max] (segmentation)")
    center_crop: Union[int, list[int], None] = opt(None, "center crop to [H, W]")
    hflip: Union[float, None] = opt(None, "probability of a horizontal flip", range="[0, 1]")
    vflip: Union[float, None] = opt(None, "probability of a vertical flip", range="[0, 1]")
    color_jitter: Union[ColorJitterConfig, None] = opt(None, "colour jitter on the image only; null: off")
    invert: Union[float, None] = opt(None, "probability of inverting the image", range="[0, 1]")
    random_erasing: Union[float, None] = opt(None, "probability of erasing a random rectangle", range="[0, 1]")
    autoaugment: Union[AutoAugmentConfig, None] = opt(None, "AutoAugment per sample (classification); null: off")
    randaugment: Union[RandAugmentConfig, None] = opt(None, "RandAugment per sample (classification); null: off")
    trivialaugment: bool = opt(False, "TrivialAugmentWide per sample (classification)")
    augmix: Union[AugMixConfig, None] = opt(None, "AugMix per sample (classification); null: off")
    normalize: bool = opt(True, "normalize with the dataset's mean and std")
    cutmix: Union[MixConfig, None] = opt(None, "CutMix per batch, loss on soft targets; null: off")
    mixup: Union[MixConfig, None] = opt(None, "MixUp per batch, loss on soft targets; null: off")
    mix_switch_p: float = opt(0.5, "with both CutMix and MixUp on: probability that a batch uses CutMix", range="[0, 1]")
    mix_off_epoch: Union[int, None] = opt(None, "no CutMix/MixUp from this epoch on (as numbered in metrics.csv); null: never", range="[1, inf)")


@dataclass
class CocoPanopticConfig:
    train_json: str = opt("annotations/panoptic_train2017.json", "training JSON (images, annotations with segments_info, categories), under data.root")
    train_masks: str = opt("annotations/panoptic_train2017", "folder of the training segment-id PNGs, under data.root")
    train_images: str = opt("train2017", "folder of the training images (searched below it by file name), under data.root")
    val_json: str = opt("annotations/panoptic_val2017.json", "validation JSON, under data.root")
    val_masks: str = opt("annotations/panoptic_val2017", "folder of the validation segment-id PNGs, under data.root")
    val_images: str = opt("val2017", "folder of the validation images, under data.root")


@dataclass
class DataConfig:
    name: str = opt("digits", "dataset; `vislab datasets` lists them")
    root: Union[str, None] = opt(None, "where the dataset lives or downloads to; null: $VISLAB_DATA or ~/.cache/vislab/data")
    download: bool = opt(True, "download when absent and a download exists")
    val_fraction: float = opt(0.2, "share held out for validation when the dataset has no val split", range="[0, 1)")
    test_fraction: float = opt(0.0, "share held out for testing when the dataset has no test split", range="[0, 1)")
    split_seed: int = opt(0, "seed of the train/val/test split, fixed across training seeds")
    limit: Union[int, None] = opt(None, "keep at most this many samples per split (smoke runs)", range="[1, inf)")
    in_memory: Union[bool, Literal["auto"]] = opt("auto", "hold small images as one uint8 tensor, augmented per batch")
    num_workers: Union[int, None] = opt(None, "DataLoader worker processes for per-sample loading; null: automatic", range="[0, inf)")
    channels: Union[int, None] = opt(None, "convert images to 1 or 3 channels on load; null: as stored")
    skip_corrupt: bool = opt(False, "skip unreadable images (counted in the log) instead of stopping")
    image_set: str = opt("train", "voc: train, or train_aug (SBD) when its files are present")
    image_dir: str = opt("images", "pairs: folder of images")
    mask_dir: str = opt("masks", "pairs: folder of masks, matched to images by file stem")
    instance_dir: Union[str, None] = opt(None, "pairs: folder of instance-id masks (panoptic)")
    num_classes: Union[int, None] = opt(None, "pairs: number of classes; null: from class_names or the masks")
    class_names: Union[list[str], None] = opt(None, "pairs: class names, in class-id order")
    ignore_index: int = opt(255, "mask value that is ignored by loss and metrics")
    mask_values: Union[dict[int, int], None] = opt(None, "pairs: raw mask value -> class id, e.g. {0: 0, 255: 1}")
    repeat: Union[list[AugConfig], None] = opt(None, "segmentation: one pass over the training set per transform set")
    protocol: Literal["mixed", "lodo"] = opt("mixed", "domain generalization: mixed domains, or leave-one-domain-out")
    test_domain: Union[str, None] = opt(None, "lodo: the held-out domain; null: the first. Naming one selects lodo")
    image_size: Union[int, list[int], None] = opt(None, "generated datasets (shapes): image size [H, W]")
    num_samples: Union[int, None] = opt(None, "generated datasets (shapes): number of training scenes")
    allow_missing_classes: bool = opt(False, "multi-domain folders: allow a class folder to be absent from some domains")
    sampler: Literal["random", "domain_balanced", "class_balanced"] = opt(
        "random", "training batches: seeded shuffle; domain_balanced: equal shares of the training domains (Dassl's "
                  "RandomDomainSampler); class_balanced: images drawn with replacement, each class equally often")
    domains_per_batch: Union[int, None] = opt(None, "domain_balanced: domains drawn per batch; null: every training domain")
    coco_panoptic: CocoPanopticConfig = opt(CocoPanopticConfig(), "coco_panoptic: where each split's JSON, PNGs and images are (COCO 2017 by default)")
    labeled_per_class: Union[int, None] = opt(None, "keep this many labeled training samples per class (seeded by split_seed); the rest is unlabeled",
                                          range="[1, inf)")
    labeled_fraction: Union[float, None] = opt(None, "keep this share of the training split labeled (stratified by class where there is one)",
                                           range="(0, 1]")
    unlabeled_root: Union[str, None] = opt(None, "a folder of images without labels, added to the unlabeled pool")
    bootstrap: bool = opt(False, "draw the training split with replacement from train.seed (bagging)")
    exclude: Union[str, None] = opt(None, "a text file of training images to leave out, one name a line as splits/train.txt "
                                          "names them (e.g. the suspects of `vislab data issues`); null: none")
    folds: Union[int, None] = opt(None, "cross-validation: cut the training split into this many class-stratified folds "
                                        "(by data.split_seed) and hold data.fold out; null: off", range="[2, inf)")
    fold: int = opt(0, "cross-validation: the fold held out of training, 0 to data.folds-1 (vislab crossval sets it)",
                    range="[0, inf)")


@dataclass
class MixStyleConfig:
    layers: list[str] = opt(["layer1", "layer2"], "stages after which MixStyle is applied")
    p: float = opt(0.5, "probability of mixing a batch")
    alpha: float = opt(0.1, "Beta(alpha, alpha) draws the mixing weight")
    mix: Literal["random", "crossdomain"] = opt("random", "partner choice: random, or from another domain")
    eps: float = opt(1e-6, "added to the variance before the square root")


@dataclass
class ModelConfig:
    name: str = opt("cnn-mnist", "model; `vislab recipes` shows what each recipe uses")
    pretrained: bool = opt(False, "start from ImageNet (or COCO) weights when the model has them")
    weights: Union[str, None] = opt(None, "path of a weights file to use instead of downloading")
    num_classes: Union[int, None] = opt(None, "output classes; null: from the dataset")
    in_channels: Union[int, None] = opt(None, "input channels; null: from the dataset")
    dropout: Union[float, None] = opt(None, "dropout before the head; null: the model's own default", range="[0, 1)")
    drop_path: Union[float, None] = opt(None, "stochastic depth rate where the model supports it", range="[0, 1)")
    freeze: list[str] = opt([], "stages frozen together with their BatchNorm statistics, e.g. [stem, layer1]")
    depth: int = opt(5, "unet: encoder levels (3 = the 64-128-256 baseline)", range="[1, inf)")
    widths: Union[list[int], None] = opt(None, "unet: channels per level; null: 32 doubling (64 for depth 3)")
    batchnorm: bool = opt(True, "unet: BatchNorm after each convolution")
    residual: Literal["none", "encoder", "decoder", "both"] = opt("none", "unet: residual blocks where")
    center: Literal["conv", "aspp"] = opt("conv", "unet: bottleneck block")
    aspp_rates: list[int] = opt([6, 12, 18], "unet/aspp: atrous rates")
    dilations: Union[list[int], None] = opt(None, "unet: dilation per encoder level, e.g. [1, 1, 1, 2, 2]")
    mixstyle: Union[MixStyleConfig, None] = opt(None, "MixStyle after chosen stages; null: off")
    domain_head: bool = opt(False, "a second head that predicts the domain")
    aux_loss: Union[bool, None] = opt(None, "torchvision segmentation: auxiliary head; null: on with pretrained weights")
    heads: Literal["semantic", "panoptic"] = opt("semantic", "unet: semantic only, or with center and offset heads (panoptic_deeplab always has them)")
    backbone: str = opt("resnet50", "panoptic_deeplab: torchvision backbone, resnet50 or resnet101")


@dataclass
class OptimConfig:
    name: Literal["sgd", "adam", "adamw", "rmsprop"] = opt("adam", "optimizer")
    lr: float = opt(1e-3, "learning rate", range="[0, inf)")
    weight_decay: float = opt(0.0, "weight decay (decoupled for adamw)", range="[0, inf)")
    momentum: float = opt(0.9, "sgd and rmsprop momentum", range="[0, inf)")
    nesterov: bool = opt(False, "sgd: Nesterov momentum")
    betas: list[float] = opt([0.9, 0.999], "adam and adamw betas")
    eps: float = opt(1e-8, "adam, adamw and rmsprop epsilon")
    alpha: float = opt(0.99, "rmsprop smoothing constant")
    backbone_lr_mult: Union[float, None] = opt(None, "backbone's rate as a share of optim.lr; null: the same", range="(0, inf)")
    layer_decay: Union[float, None] = opt(None, "layer-wise rate decay from the head down (timm's); null: off", range="(0, 1]")
    no_decay_norm_bias: bool = opt(False, "no weight decay on normalization weights and biases")


@dataclass
class SchedConfig:
    name: Literal["none", "step", "multistep", "cosine", "poly", "onecycle"] = opt("none", "learning-rate schedule")
    step_size: int = opt(10, "step: epochs between decays")
    gamma: float = opt(0.1, "step and multistep: decay factor")
    milestones: list[int] = opt([], "multistep: epochs at which to decay")
    min_lr: float = opt(0.0, "cosine and poly: final learning rate")
    power: float = opt(0.9, "poly: exponent of (1 - progress), DeepLab's 0.9", range="(0, inf)")
    pct_start: float = opt(0.3, "onecycle: share of training spent increasing the rate")
    warmup_epochs: float = opt(0.0, "linear warmup length in epochs (fractions allowed)", range="[0, inf)")
    warmup_start_factor: float = opt(0.1, "warmup starts at this fraction of the rate")


@dataclass
class LossTermConfig:
    name: Literal["ce", "dice", "focal", "lovasz", "tversky"] = opt("ce", "loss family: ce, dice, focal, lovasz (Lovasz-softmax), tversky")
    weight: float = opt(1.0, "this term's weight in the sum")
    binary: bool = opt(False, "two-class masks: the binary form on the foreground logit (BCE, Lovasz hinge...)")
    gamma: Union[float, None] = opt(None, "focal: focusing exponent; null: 2")
    alpha: Union[float, None] = opt(None, "tversky: weight of false positives (null: 0.5); binary focal: weight of foreground pixels (null: none)")
    beta: Union[float, None] = opt(None, "tversky: weight of false negatives; null: 0.5")


@dataclass
class DistillConfig:
    teacher: Union[str, None] = opt(None, "run directory of the finished teacher (its best.pt)")
    temperature: float = opt(4.0, "softmax temperature of teacher and student", range="(0, inf)")
    weight: float = opt(0.9, "share of the distillation term; the labels' cross-entropy gets 1 - weight",
                         range="[0, 1)")


@dataclass
class LossConfig:
    label_smoothing: float = opt(0.0, "cross-entropy label smoothing", range="[0, 1)")
    class_weights: Union[list[float], Literal["auto", "inverse", "effective"], None] = opt(
        None, "per-class cross-entropy weights; auto (= inverse): inverse class frequency of the training images, "
              "N / (K n_c); effective: Cui et al. 2019's effective number of samples, (1 - 0.999) / (1 - 0.999^n_c)")
    aux_weight: float = opt(0.5, "segmentation: weight of the auxiliary head's loss")
    topk: Union[float, None] = opt(None, "segmentation: keep only this share of the hardest pixels")
    domain_weight: float = opt(1.0, "domain generalization: weight of the domain head's loss")
    center_weight: float = opt(200.0, "panoptic: weight of the center heatmap MSE")
    offset_weight: float = opt(0.01, "panoptic: weight of the offset L1")
    center_sigma: float = opt(8.0, "panoptic: Gaussian sigma of the center heatmap in pixels")
    terms: Union[list[LossTermConfig], None] = opt(None, "segmentation: losses summed with weights, e.g. [{name: ce}, {name: dice, weight: 0.5}]; null: cross-entropy")
    distill: Union[DistillConfig, None] = opt(None, "knowledge distillation from a finished run; null: off")


@dataclass
class ProgressiveConfig:
    stages: int = opt(4, "stages, each an equal share of train.epochs (EfficientNetV2 trains in 4)", range="[1, inf)")
    image_size: Union[list[int], None] = opt(None, "[first, last] stage's training image side; linear in between")
    dropout: Union[list[float], None] = opt(None, "[first, last] rate of the model's dropout layers")
    magnitude: Union[list[int], None] = opt(None, "[first, last] aug.randaugment.magnitude")
    mixup_alpha: Union[list[float], None] = opt(None, "[first, last] aug.mixup.alpha")


@dataclass
class EmaConfig:
    decay: Union[float, None] = opt(None, "model EMA: weight of the old average per update, e.g. 0.999; null: off",
                                    range="[0, 1)")
    warmup_steps: int = opt(0, "ramp the decay as decay x (1 - exp(-updates / warmup_steps)); 0: the full decay from the start",
                            range="[0, inf)")
    every_steps: int = opt(1, "update the EMA every this many optimizer steps", range="[1, inf)")


@dataclass
class TrainConfig:
    epochs: int = opt(10, "passes over the training set", range="[1, inf)")
    batch_size: int = opt(64, "samples per step and process", range="[1, inf)")
    eval_batch_size: Union[int, None] = opt(None, "samples per evaluation step; null: the training batch size", range="[1, inf)")
    seed: int = opt(0, "seed of model init, data order and augmentation")
    deterministic: bool = opt(False, "deterministic algorithms only (bit-exact resume on CPU)")
    accelerator: Literal["auto", "cpu", "cuda", "gpu", "mps"] = opt("auto", "device type")
    devices: Union[int, str] = opt(1, "devices per node (an int, or 'auto')", range="[1, inf)")
    num_nodes: int = opt(1, "machines taking part (launch with torchrun)", range="[1, inf)")
    strategy: str = opt("auto", "auto or ddp (Lightning Fabric strategies)")
    precision: Literal["auto", "32-true", "bf16-mixed", "16-mixed"] = opt(
        "auto", "numeric precision; auto: bf16-mixed on GPUs with bf16 (16-mixed on older ones), 32-true on CPUs")
    monitor: Union[str, None] = opt(None, "metric that picks best.pt and drives early stopping; null: the task's")
    mode: Literal["auto", "max", "min"] = opt("auto", "whether the monitored metric should go up or down")
    patience: Union[int, None] = opt(None, "stop after this many epochs without improvement; null: never", range="[0, inf)")
    grad_clip: Union[float, None] = opt(None, "clip the gradient norm to this value", range="[0, inf)")
    checkpoint_every_steps: Union[int, None] = opt(None, "also write last.pt every this many steps (mid-epoch resume)", range="[1, inf)")
    nan_policy: Literal["stop", "skip_batch"] = opt("stop", "on a NaN or infinite loss: stop, or skip the batch")
    limit_batches: Union[int, None] = opt(None, "at most this many batches per epoch and split (smoke runs)", range="[1, inf)")
    compile: bool = opt(False, "torch.compile the model")
    channels_last: bool = opt(False, "channels-last memory format (GPUs; on CPUs it pays for some models only: see the recipes)")
    threads: Union[int, None] = opt(None, "CPU threads; null: the cores this process can get, re-checked each epoch",
                                    range="[1, inf)")
    progress: bool = opt(True, "show a progress bar")
    progressive: Union[ProgressiveConfig, None] = opt(None, "progressive resizing and regularization (EfficientNetV2); null: off")
    ema: EmaConfig = opt(EmaConfig(), "an exponential moving average of the weights, validated each epoch (val_ema_<metric>)")
    average_last: Union[int, None] = opt(None, "average the last K epochs' weights into checkpoints/averaged.pt; null: off",
                                         range="[1, inf)")
    accumulate: int = opt(1, "step the optimizer every this many batches, summing their gradients", range="[1, inf)")


@dataclass
class SemisupConfig:
    method: Literal["none", "fixmatch", "mean_teacher", "noisy_student"] = opt("none", "learning from the unlabeled pool")
    ratio: int = opt(7, "unlabeled images per labeled image in each step (FixMatch's mu)",
        range="[1, inf)")
    weight: float = opt(1.0, "weight of the unlabeled loss",
        range="[0, inf)")
    threshold: float = opt(0.95, "fixmatch, noisy_student: confidence a pseudo-label needs (per pixel for segmentation)",
        range="[0, 1)")
    strong_ops: int = opt(2, "fixmatch, noisy_student: RandAugment operations in the strong view",
        range="[1, inf)")
    cutout: float = opt(0.5, "fixmatch, noisy_student: largest side of the strong view's cutout, as a share of the image",
        range="[0, 1)")
    ema_decay: float = opt(0.999, "mean_teacher: decay of the teacher's exponential moving average",
        range="[0, 1)")
    rampup_epochs: float = opt(5.0, "mean_teacher: epochs of sigmoid ramp-up of the consistency weight",
        range="[0, inf)")
    teacher: Union[str, None] = opt(None, "noisy_student: run directory of the finished teacher")
    pseudo: Literal["hard", "soft"] = opt("hard", "noisy_student: the teacher's argmax, or its probabilities")
    balance: bool = opt(True, "noisy_student: weight pseudo-labels so that every class counts alike")


# The semisup.* keys each semisup.method reads: config resolution drops a recipe's keys that an overridden method
# does not read, and schemes.settings refuses a key set for a method that does not read it. Here, beside the
# keys, so that both read it without importing torch.
SEMISUP_READS: dict[str, set[str]] = {
    "none": set(),
    "fixmatch": {"ratio", "weight", "threshold", "strong_ops", "cutout"},
    "mean_teacher": {"ratio", "weight", "strong_ops", "cutout", "ema_decay", "rampup_epochs"},
    "noisy_student": {"ratio", "weight", "threshold", "strong_ops", "cutout", "teacher", "pseudo", "balance"},
}


@dataclass
class TaskConfig:
    name: Union[Literal["classification", "domain_generalization", "segmentation", "panoptic"], None] = opt(
        None, "the kind of work; null: the dataset's (panoptic is chosen here, on segmentation data)")


@dataclass
class TTAConfig:
    flip: bool = opt(False, "average the predictions of the image and its horizontal mirror")
    scales: list[float] = opt([1.0], "segmentation, panoptic: input scales whose logits are averaged at full resolution")


@dataclass
class PanopticEvalConfig:
    threshold: float = opt(0.1, "center heatmap score above which a local maximum is an instance")
    nms_kernel: int = opt(7, "window (pixels, odd) of the max-pool that keeps one center per instance")
    top_k: int = opt(200, "at most this many instances per image, highest centers first")
    stuff_area: int = opt(0, "stuff segments of fewer pixels become void")


@dataclass
class EvalConfig:
    sliding_window: Union[int, list[int], None] = opt(None, "segmentation: evaluate with [H, W] windows; null: whole images")
    window_overlap: float = opt(0.5, "segmentation: overlap of sliding windows")
    tta: TTAConfig = opt(TTAConfig(), "test-time augmentation (eval and predict)")
    panoptic: PanopticEvalConfig = opt(PanopticEvalConfig(), "panoptic grouping; change it on a finished run with vislab eval RUN eval.panoptic.KEY=...")
    explain: Union[str, None] = opt(None, "galleries (misclassified, lowest-IoU images): the class-activation map of the "
                                    "predicted class beside each image, by this method of vislab explain (gradcam, "
                                    "gradcam++, eigencam, ...; needs pytorch-grad-cam); null: off")


@dataclass
class Config:
    recipe: str = opt("custom", "recipe name; names the run directory")
    description: str = opt("", "what this recipe is for")
    data: DataConfig = opt(DataConfig(), "dataset and splits")
    aug: AugConfig = opt(AugConfig(), "training augmentation")
    task: TaskConfig = opt(TaskConfig(), "what is learned: steps, loss, metrics, artifacts")
    model: ModelConfig = opt(ModelConfig(), "model")
    optim: OptimConfig = opt(OptimConfig(), "optimizer")
    sched: SchedConfig = opt(SchedConfig(), "learning-rate schedule, stepped every batch")
    loss: LossConfig = opt(LossConfig(), "loss")
    train: TrainConfig = opt(TrainConfig(), "training loop and hardware")
    eval: EvalConfig = opt(EvalConfig(), "evaluation")
    semisup: SemisupConfig = opt(SemisupConfig(), "semi-supervised learning from unlabeled images")


# ----------------------------------------------------------------------------------------------
# Introspection and range rules
# ----------------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=None)
def field_types(cls: type) -> dict[str, Any]:
    """The annotations of dataclass ``cls``, by field name, resolved."""
    return typing.get_type_hints(cls)


def section_class(tp: Any) -> type | None:
    """The dataclass inside ``tp`` (itself, or the member of Optional[...]), else None."""
    if is_dataclass(tp):
        return tp
    if typing.get_origin(tp) in (Union, types.UnionType):
        for member in typing.get_args(tp):
            if is_dataclass(member):
                return member
    return None


def all_keys(cls: type = Config, prefix: str = "") -> list[str]:
    """Every dotted key of the schema, nested sections included."""
    keys = []
    for name, tp in field_types(cls).items():
        key = f"{prefix}.{name}" if prefix else name
        keys.append(key)
        sub = section_class(tp)
        if sub is not None:
            keys.extend(all_keys(sub, key))
    return keys


def is_section(key: str) -> bool:
    """Whether dotted ``key`` names a section (a dataclass) rather than a value."""
    cls: Any = Config
    for part in key.split("."):
        cls = section_class(field_types(cls).get(part))
        if cls is None:
            return False
    return True


def check_values(cfg: Any, prefix: str = "") -> None:
    """The range rules beside the fields (``opt(..., range=...)``), over every section, entries of lists of
    sections included; each failure names the key and the value."""
    for f in dataclasses.fields(cfg):
        key, value = f"{prefix}{f.name}", getattr(cfg, f.name)
        rule = f.metadata.get("range")
        if rule is not None and isinstance(value, (int, float)) and not isinstance(value, bool) and value not in rule:
            raise VislabError(f"config key '{key}' {rule.describe()}, got {value}")
        if is_dataclass(value):
            check_values(value, key + ".")
        elif isinstance(value, list):
            for i, item in enumerate(value):
                if is_dataclass(item):
                    check_values(item, f"{key}[{i}].")
    if prefix:
        return  # the rules between keys of different sections, once, from the top
    held_out = (cfg.data.val_fraction or 0) + (cfg.data.test_fraction or 0)
    if held_out >= 1:
        raise VislabError(
            f"data.val_fraction={cfg.data.val_fraction} and data.test_fraction={cfg.data.test_fraction} "
            "leave nothing to train on: they must sum below 1"
        )
    check_ema(cfg.train.ema)
    every, accumulate = cfg.train.checkpoint_every_steps, cfg.train.accumulate
    if every is not None and every % accumulate:
        raise VislabError(f"config key 'train.checkpoint_every_steps' must be a multiple of train.accumulate={accumulate} "
                          f"(accumulated gradients are not checkpointed), got {every}")


def check_ema(ema: "EmaConfig") -> None:
    """EMA settings other than the decay do nothing while it is off (null)."""
    if ema.decay is not None:
        return
    for key, default in (("warmup_steps", 0), ("every_steps", 1)):
        if getattr(ema, key) != default:
            raise VislabError(f"config key 'train.ema.{key}' does nothing with train.ema.decay=null; set train.ema.decay (e.g. 0.999)")


def to_dict(cfg: Any) -> dict:
    """The config as plain nested mappings (what config.yaml holds)."""
    return dataclasses.asdict(cfg)


def flatten(cfg: Any) -> dict[str, Any]:
    """The config as {dotted key: value}, sections descended (for grouping and comparing runs)."""
    out: dict[str, Any] = {}

    def walk(node: dict, prefix: str) -> None:
        for k, v in node.items():
            key = f"{prefix}.{k}" if prefix else k
            if isinstance(v, dict) and is_section(key):
                walk(v, key)
            else:
                out[key] = v

    walk(to_dict(cfg) if is_dataclass(cfg) else cfg, "")
    return out
