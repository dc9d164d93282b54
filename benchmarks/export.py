"""ONNX Runtime against eager PyTorch: latency at batch 1 on the CPU, for the models of three recipes.

For cnn-mnist (1x28x28, 10 classes), torchvision's resnet18 (3x224x224, 65 classes, as officehome-erm
trains it) and the shapes UNet (3x64x64, shapes-unet), each freshly initialized in evaluation mode: the model
is exported the way `vislab export --dynamic-batch` does it (torch.onnx.export, dynamo=True), loaded through
vislab's ExportedModel (ONNX Runtime, CPUExecutionProvider), and both are timed alternately in one process:
median of repeated calls after warm-up (vislab.export.profile.latency), under torch.inference_mode. The
outputs are compared too (max abs difference). The last lines are `ratio eager/onnxruntime: R` per model;
above 1 the exported model is faster. Give the machine load (`uptime`) with any number you quote.

    python benchmarks/export.py [--rounds 3] [--threads 1]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from vislab import config, models, tasks  # noqa: E402
from vislab.data.bundle import DataInfo  # noqa: E402
from vislab.export.export import export_model, prepare  # noqa: E402
from vislab.export.profile import latency  # noqa: E402
from vislab.export.runtime import load_exported  # noqa: E402

CASES = {  # name: (recipe, overrides, data facts of that recipe)
    "cnn-mnist": ("mnist-cnn", {}, dict(task="classification", num_classes=10, channels=1, image_size=(28, 28))),
    "resnet18": ("officehome-erm", {"model.name": "resnet18", "model.domain_head": False, "model.mixstyle": None},
                 dict(task="classification", num_classes=65, channels=3, image_size=(224, 224))),
    "shapes UNet": ("shapes-unet", {}, dict(task="segmentation", num_classes=4, channels=3, image_size=(64, 64))),
}


def build(recipe: str, overrides: dict, facts: dict) -> tuple:
    """The recipe's model, freshly initialized, with its config and the data facts it is sized by (no data needed)."""
    cfg = config.resolve(recipe, {"model.pretrained": False, "model.weights": None, **overrides})
    k = facts["num_classes"]
    info = DataInfo(class_names=[str(i) for i in range(k)], mean=[0.5] * facts["channels"], std=[0.25] * facts["channels"], **facts)
    torch.manual_seed(0)
    return models.build(cfg.model, info).eval(), cfg, info


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="alternations of eager and ONNX Runtime per model")
    parser.add_argument("--threads", type=int, default=1, help="intra-op threads of both torch and ONNX Runtime "
                        "(default 1: on a shared machine more threads measure the other jobs; 0: each its own choice)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    import onnxruntime

    print(f"load: {os.getloadavg()}  torch {torch.__version__} ({torch.get_num_threads()} threads)  "
          f"onnxruntime {onnxruntime.__version__}  cpu cores {os.cpu_count()}")
    ratios = {}
    for name, (recipe, overrides, facts) in CASES.items():
        model, cfg, info = build(recipe, overrides, facts)
        module, example, meta = prepare(model, cfg, info, tasks.build(cfg, info), dynamic_batch=True, half=False, run_dir=recipe)
        x = torch.randn(1, *example.shape[1:], generator=torch.Generator().manual_seed(0))
        with tempfile.TemporaryDirectory() as tmp:
            export_model(module, example, Path(tmp) / "model.onnx", "onnx", meta)
            exported = load_exported(Path(tmp) / "model.onnx", threads=args.threads or None)
        eager_s, onnx_s = [], []
        with torch.inference_mode():
            diff = max(float((a - b).abs().max()) for a, b in zip(as_list(module(x)), as_list(exported(x))))
            for _ in range(args.rounds):
                eager_s.append(latency(lambda: module(x), x.device, budget_s=2.0))
                onnx_s.append(latency(lambda: exported(x), x.device, budget_s=2.0))
        eager, onnx = statistics.median(eager_s), statistics.median(onnx_s)
        ratios[name] = eager / onnx
        print(f"{name:<12} input {list(x.shape)}  eager {eager * 1e3:8.3f} ms  onnxruntime {onnx * 1e3:8.3f} ms  "
              f"max abs diff {diff:.1e}")
    print(f"load after: {os.getloadavg()}")
    for name, ratio in ratios.items():
        print(f"ratio eager/onnxruntime ({name}, batch 1, cpu): {ratio:.2f}")


def as_list(outputs) -> list:
    return [outputs] if torch.is_tensor(outputs) else [v for v in outputs.values() if torch.is_tensor(v)]


if __name__ == "__main__":
    main()
