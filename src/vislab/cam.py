"""Class-activation maps of any vislab model, through pytorch-grad-cam: the layer the model's contract declares
(models.contract.Contract.cam_layer), its head's output, the targets a map explains. `vislab explain`
(vislab.explain) and the evaluation galleries of the tasks (``eval.explain``) both draw their maps here.

Token outputs of transformers are laid back on their patch grid here. Torch and the library are imported where
they are used: the command line lists METHODS without them.
"""

from __future__ import annotations

import contextlib
import dataclasses
import difflib
import importlib.util
import io
from typing import Any, Optional

from .errors import VislabError

# --method name -> pytorch-grad-cam's class
METHODS = {
    "gradcam": "GradCAM", "gradcam++": "GradCAMPlusPlus", "hirescam": "HiResCAM", "xgradcam": "XGradCAM",
    "layercam": "LayerCAM", "eigencam": "EigenCAM", "eigengradcam": "EigenGradCAM", "scorecam": "ScoreCAM",
}


def check_method(method: str, option: str) -> None:
    """Bad input unless ``method`` (given as ``option``: --method, eval.explain) is one of METHODS."""
    if method not in METHODS:
        close = difflib.get_close_matches(method, METHODS, n=2, cutoff=0.5)
        hint = f"did you mean {' or '.join(close)}? " if close else ""
        raise VislabError(f"{option} {method}: {hint}methods are {', '.join(METHODS)}")

def require_library(what: str = "vislab explain") -> None:
    """Bad input unless pytorch-grad-cam is installed (found, not imported: a task checks it at every build)."""
    try:
        found = importlib.util.find_spec("pytorch_grad_cam") is not None
    except ValueError:  # a module set to None in sys.modules, which import refuses too
        found = False
    if not found:
        raise VislabError(f"{what} needs pytorch-grad-cam: pip install 'vislab[explain]' (or pip install grad-cam)")


@dataclasses.dataclass
class Images:
    """Model inputs [B, C, H, W] (normalized as in training), the same images for showing [B, C, H, W] in
    [0, 1], their names, and their labels ([B] or [B, H, W]) where known."""

    inputs: Any
    shown: Any
    names: list[str]
    labels: Any = None



def head_key(contract: Any, head: str) -> str:
    """The output key of ``head`` (class or domain) in the model's outputs."""
    if head == "domain":
        if "domain_logits" not in contract.heads:
            raise VislabError("--head domain: this run's model has no domain head; train it with model.domain_head=true")
        return "domain_logits"
    return "out" if "out" in contract.heads else "logits"


def head_module(model: Any, key: str) -> Any:
    """``model`` answering the one tensor of output ``key`` (pytorch-grad-cam takes a tensor per image)."""
    from torch import nn

    class HeadOutput(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, x):
            out = self.model(x)
            return out[key] if isinstance(out, dict) else out

    return HeadOutput().eval()


def layer_of(model: Any, contract: Any, layer: Optional[str]) -> Any:
    """The module maps read: ``--layer`` when given (close names suggested when unknown), else the contract's."""
    name = layer or contract.cam_layer
    modules = dict(model.named_modules())
    if name not in modules or name == "":
        close = difflib.get_close_matches(name, [n for n in modules if n], n=4, cutoff=0.5)
        hint = f"did you mean {', '.join(close)}?" if close else f"the model's modules include {', '.join(list(n for n in modules if n)[:8])} ..."
        raise VislabError(f"--layer {name}: the model has no such module; {hint}")
    return modules[name]


def as_maps(channels_last: bool, size: tuple[int, int]) -> Any:
    """pytorch-grad-cam's reshape_transform: the layer's output as feature maps [B, C, h, w]. Tokens [B, N, C]
    lose their prefix tokens (class, distillation, registers) and lie on the patch grid of an image of ``size``
    (the grid is the one whose cells tile the image and leaves the fewest tokens over); [B, h, w, C] is
    permuted where the contract says the layer is channels-last."""

    def transform(x):
        if x.dim() == 3:
            h, w = token_grid(x.shape[1], size)
            return x[:, x.shape[1] - h * w :].reshape(x.shape[0], h, w, x.shape[2]).permute(0, 3, 1, 2)
        return x.permute(0, 3, 1, 2) if channels_last else x

    return transform


def token_grid(tokens: int, size: tuple[int, int]) -> tuple[int, int]:
    """(h, w) of the patch grid of ``tokens`` tokens over an image of ``size`` (square patches)."""
    height, width = size
    for prefix in range(tokens):
        cells = tokens - prefix
        patch = round((height * width / cells) ** 0.5)
        if patch and height % patch == 0 and width % patch == 0 and (height // patch) * (width // patch) == cells:
            return height // patch, width // patch
    raise VislabError(f"the layer gives {tokens} tokens, which lie on no patch grid of a {height}x{width} image; choose another --layer")


class MaskedScore:
    """A per-pixel model's target: its class ``k`` score (logits, or probabilities with ``softmax``) summed over
    ``mask`` [H, W] (pytorch-grad-cam's SemanticSegmentationTarget, with the probability variant for ROAD)."""

    def __init__(self, k: int, mask: Any, softmax: bool = False) -> None:
        self.k, self.mask, self.softmax = k, mask, softmax

    def __call__(self, output):
        scores = output.softmax(0) if self.softmax else output
        return (scores[self.k] * self.mask.to(output.device)).sum() / self.mask.sum().clamp(min=1)


@dataclasses.dataclass
class Targets:
    """What each image's map explains: the class [B], the callables pytorch-grad-cam differentiates (raw
    scores) and ROAD scores (probabilities), the predicted class [B] and its probability [B]."""

    classes: list[int]
    cam: list[Any]
    road: list[Any]
    predicted: list[int]
    probability: list[float]


def targets_for(model: Any, images: Images, per_pixel: bool, chosen: Optional[int], use_labels: bool) -> Targets:
    """Targets of each image: the ``chosen`` class, else its label (``use_labels``; for a per-pixel model the
    label of most labelled pixels), else the prediction. A per-pixel model's target is its class's score over
    the pixels predicted as that class (all pixels where none is), and its prediction the class of most pixels."""
    import torch
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputSoftmaxTarget, ClassifierOutputTarget

    with torch.no_grad():
        probs = model(images.inputs).float().softmax(1)
    pixels = probs.argmax(1)
    predicted = [int(p.flatten().mode().values) for p in pixels] if per_pixel else pixels.tolist()
    classes = []
    for i, p in enumerate(predicted):
        if chosen is not None:
            classes.append(chosen)
        elif use_labels:
            labels = images.labels[i].flatten()
            labelled = labels[labels < probs.shape[1]]  # not ignore_index
            classes.append(int(labelled.mode().values if len(labelled) else predicted[i]) if per_pixel else int(labels))
        else:
            classes.append(p)
    if not per_pixel:
        return Targets(classes, [ClassifierOutputTarget(k) for k in classes], [ClassifierOutputSoftmaxTarget(k) for k in classes],
                       predicted, [float(probs[i, k]) for i, k in enumerate(predicted)])
    masks = [(pixels[i] == k).float() for i, k in enumerate(classes)]
    masks = [m if m.sum() > 0 else torch.ones_like(m) for m in masks]
    return Targets(classes, [MaskedScore(k, m) for k, m in zip(classes, masks)],
                   [MaskedScore(k, m, softmax=True) for k, m in zip(classes, masks)], predicted,
                   [float((probs[i, k] * (pixels[i] == k)).sum() / (pixels[i] == k).sum().clamp(min=1)) for i, k in enumerate(predicted)])


def cam_maps(model: Any, layer: Any, channels_last: bool, method: str, images: Images, targets: list[Any]) -> Any:
    """Maps float [B, H, W] in [0, 1] of ``method`` for ``targets``, at the input's size."""
    import pytorch_grad_cam

    size = tuple(images.inputs.shape[-2:])
    cam_class = getattr(pytorch_grad_cam, METHODS[method])
    # ScoreCAM draws a progress bar per batch of images on stderr, which would bury vislab's own output
    with cam_class(model=model, target_layers=[layer], reshape_transform=as_maps(channels_last, size)) as cam, \
            contextlib.redirect_stderr(io.StringIO()):
        return cam(input_tensor=images.inputs, targets=targets)


@dataclasses.dataclass
class Explainer:
    """A model ready for maps: the module answering the chosen head, the layer, what the classes are called."""

    model: Any
    layer: Any
    layer_name: str
    channels_last: bool
    names: list[str]
    per_pixel: bool


def explainer_for(model: Any, names: list[str], per_pixel: bool, layer: Optional[str] = None, head: str = "class") -> Explainer:
    """``model`` (as built, with its contract) explained through its ``head``, whose classes are ``names``
    (the data's classes, or its domains for the domain head); ``per_pixel`` when the task's outputs are maps."""
    from .models.contract import contract_of

    contract = contract_of(model)
    wrapped = head_module(model, head_key(contract, head))
    return Explainer(wrapped, layer_of(model, contract, layer), layer or contract.cam_layer, contract.cam_channels_last,
                     names, per_pixel and head == "class")




def explainable(model: Any) -> bool:
    """Whether ``model`` declares the layer its maps read (a models.contract.Contract): a model built outside
    vislab's families (the Python API takes any nn.Module) has none, and its galleries go without maps."""
    from .models.contract import declared

    return declared(model) is not None


def gallery_method(method: Optional[str]) -> Optional[str]:
    """``eval.explain`` checked: None (off) or a method of METHODS, with pytorch-grad-cam importable."""
    if method is None:
        return None
    check_method(method, "eval.explain")
    require_library(f"eval.explain={method}")
    return method


def gallery_maps(model: Any, names: list[str], per_pixel: bool, method: str, inputs: Any) -> tuple[Any, list[int]]:
    """The evaluation galleries' maps: float [B, H, W] in [0, 1] of ``method`` for the class ``model`` predicts
    on each of ``inputs`` [B, C, H, W] (for a per-pixel model, the class of most pixels, its score over the
    pixels predicting it), and those classes [B]. Gradients flow whatever mode the caller is in."""
    import torch

    e = explainer_for(model, names, per_pixel)
    images = Images(inputs, None, [str(i) for i in range(len(inputs))])
    with torch.enable_grad():
        targets = targets_for(e.model, images, e.per_pixel, None, False)
        return cam_maps(e.model, e.layer, e.channels_last, method, images, targets.cam), targets.classes


def beside(shown: Any, cam: Any) -> Any:
    """uint8 [H, W, 3] of an image shown (uint8 [H, W, 3]) with ``cam`` [h, w] laid over it (pytorch-grad-cam's
    show_cam_on_image; the map resized to the image where their sizes differ)."""
    import numpy as np
    import torch
    import torch.nn.functional as F
    from pytorch_grad_cam.utils.image import show_cam_on_image

    if cam.shape != shown.shape[:2]:
        cam = F.interpolate(torch.as_tensor(cam)[None, None], size=shown.shape[:2], mode="bilinear")[0, 0].numpy()
    return show_cam_on_image(shown.astype(np.float32) / 255, np.clip(cam, 0, 1), use_rgb=True, image_weight=0.5)
