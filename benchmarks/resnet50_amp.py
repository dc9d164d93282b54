"""Training images/s of torchvision's resnet50 at 224x224 with AMP (bf16) and channels_last on one GPU.

The published anchor: about 2,470 img/s on one A100 (NVIDIA DeepLearningExamples, ResNet-50 v1.5, AMP,
batch 256). Synthetic data on the device, SGD with momentum, ``--steps`` timed steps after a warm-up.

    python benchmarks/resnet50_amp.py [--batch 256] [--steps 30]
"""

from __future__ import annotations

import argparse
import time

import torch
import torch.nn.functional as F
import torchvision


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--steps", type=int, default=30)
    args = ap.parse_args()
    if not torch.cuda.is_available():
        print("resnet50_amp: no CUDA device here")
        return
    torch.backends.cudnn.benchmark = True
    dev = torch.device("cuda")
    model = torchvision.models.resnet50().to(dev, memory_format=torch.channels_last)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    x = torch.randn(args.batch, 3, 224, 224, device=dev).contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, 1000, (args.batch,), device=dev)

    def step() -> None:
        with torch.autocast("cuda", dtype=torch.bfloat16):
            loss = F.cross_entropy(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    for _ in range(10):
        step()
    torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(args.steps):
        step()
    torch.cuda.synchronize()
    speed = args.steps * args.batch / (time.perf_counter() - start)
    print(f"{torch.cuda.get_device_name(dev)}: resnet50 224px bf16 channels_last batch {args.batch}: {speed:.0f} img/s")
    print(f"images/s: {speed:.0f}")


if __name__ == "__main__":
    main()
