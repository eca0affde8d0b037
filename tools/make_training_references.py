#!/usr/bin/env python3
"""Reference values for the training options, computed by the libraries researchers already trust.

- optimizer_steps.safetensors: three steps of torch.optim.Adam / AdamW / SGD (several settings) on small float64
  tensors from fixed gradients; the Swift tests replay them in float32.
- image_quality.*: PSNR and SSIM of image pairs by scikit-image (structural_similarity with gaussian_weights,
  sigma 1.5, use_sample_covariance False, data_range 1: the settings of the SSIM paper and pytorch-msssim).

Needs: pip install torch (the CPU build from PyPI) numpy safetensors scikit-image.
Run from the repository root: python tools/make_training_references.py
"""
import json
import os

import numpy as np
import torch
from safetensors.numpy import save_file
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

OUT = os.path.join("Tests", "Fixtures", "training")

OPTIMIZERS = {
    "adam": (torch.optim.Adam, dict(lr=1e-2, betas=(0.9, 0.999), eps=1e-8)),
    "adam_wd": (torch.optim.Adam, dict(lr=1e-2, betas=(0.8, 0.99), eps=1e-8, weight_decay=0.1)),
    "adamw": (torch.optim.AdamW, dict(lr=1e-2, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.05)),
    "sgd": (torch.optim.SGD, dict(lr=0.1)),
    "sgd_momentum": (torch.optim.SGD, dict(lr=0.1, momentum=0.9, dampening=0.2, weight_decay=0.01)),
    "sgd_nesterov": (torch.optim.SGD, dict(lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01)),
}


def optimizer_references():
    rng = np.random.default_rng(7)
    shape = (3, 4)
    tensors = {"w0": rng.standard_normal(shape).astype(np.float32)}
    grads = [rng.standard_normal(shape).astype(np.float32) for _ in range(3)]
    for i, g in enumerate(grads):
        tensors[f"grad{i}"] = g
    settings = {}
    for name, (cls, kwargs) in OPTIMIZERS.items():
        w = torch.nn.Parameter(torch.tensor(tensors["w0"], dtype=torch.float64))
        opt = cls([w], **kwargs)
        for i, g in enumerate(grads):
            w.grad = torch.tensor(g, dtype=torch.float64)
            opt.step()
            tensors[f"{name}.step{i + 1}"] = w.detach().numpy().astype(np.float32)
        settings[name] = {k: list(v) if isinstance(v, tuple) else v for k, v in kwargs.items()}
    save_file(tensors, os.path.join(OUT, "optimizer_steps.safetensors"))
    return settings


def image_quality_references():
    rng = np.random.default_rng(11)
    h, w = 24, 30
    yy, xx = np.mgrid[0:h, 0:w] / 10.0
    base = np.stack([np.sin(xx + c) * np.cos(yy - c) * 0.4 + 0.5 for c in range(3)])
    pairs = {
        "noisy": (base, np.clip(base + rng.normal(0, 0.05, base.shape), 0, 1)),
        "shifted": (base, np.clip(base * 0.8 + 0.1, 0, 1)),
        "blocks": (base, np.round(base * 4) / 4),
    }
    tensors, values = {}, {}
    for name, (a, b) in pairs.items():
        a32, b32 = a.astype(np.float32), b.astype(np.float32)
        tensors[f"{name}.a"], tensors[f"{name}.b"] = a32, b32
        a64, b64 = a32.astype(np.float64), b32.astype(np.float64)
        values[name] = {
            "psnr": peak_signal_noise_ratio(a64, b64, data_range=1.0),
            "ssim": structural_similarity(a64, b64, channel_axis=0, data_range=1.0, gaussian_weights=True,
                                          sigma=1.5, use_sample_covariance=False),
        }
    save_file(tensors, os.path.join(OUT, "image_quality.safetensors"))
    return values


if __name__ == "__main__":
    os.makedirs(OUT, exist_ok=True)
    reference = {"optimizers": optimizer_references(), "image_quality": image_quality_references(),
                 "torch": torch.__version__}
    with open(os.path.join(OUT, "reference.json"), "w") as f:
        json.dump(reference, f, indent=2, sort_keys=True)
        f.write("\n")
