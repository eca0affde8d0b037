#!/usr/bin/env python3
"""Writes the small PyTorch checkpoints of Tests/Fixtures/torch-checkpoints/ that TorchCheckpointTests reads.

Needs: torch (CPU is enough: `pip install torch --index-url https://download.pytorch.org/whl/cpu`, or the CPU
wheel from PyPI), numpy and safetensors (`pip install numpy safetensors`). Run from the repository root:

    python tools/make_torch_checkpoints.py

The weights are the tiny fixture's (Tests/Fixtures/vae-tiny-g8/weights.ldm.safetensors), so a reader that is
right returns them bit for bit. `expected.safetensors` holds, as float32, the values the odd-dtype and view
tensors of sd_style.ckpt must decode to.
"""
import collections
import io
import os
import sys
import types
import zipfile

import numpy
import torch
from safetensors.torch import load_file, save_file

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "Tests", "Fixtures", "torch-checkpoints")
WEIGHTS = os.path.join(ROOT, "Tests", "Fixtures", "vae-tiny-g8", "weights.ldm.safetensors")
# Where the malicious pickle would leave its mark if a reader ever executed it (the test checks it is absent).
MARKER = "/tmp/vae-dist-malicious-pickle-ran"


def weights():
    return collections.OrderedDict(sorted(load_file(WEIGHTS).items()))


def odd_tensors():
    """Tensors whose decoding is not a plain float32 copy: other dtypes, a strided view, a shared storage."""
    g = torch.Generator().manual_seed(0)
    base = torch.randn(6, 5, generator=g)
    shared = torch.randn(40, generator=g)
    return {
        "extra.f64": torch.randn(3, 4, generator=g, dtype=torch.float64) * 1e3,
        "extra.f16": torch.randn(7, generator=g).half(),
        "extra.bf16": torch.randn(2, 3, generator=g).bfloat16(),
        "extra.transposed": base.t(),                 # stride (1, 5): not contiguous
        "extra.shared_whole": shared,
        "extra.shared_part": shared[10:22].view(3, 4),  # same storage, offset 10
        "extra.bool": torch.tensor([True, False, True]),
        "extra.int64": torch.arange(5, dtype=torch.int64),
    }


def sd_style():
    sd = collections.OrderedDict()
    for k, v in weights().items():
        sd["first_stage_model." + k] = v
    sd["cond_stage_model.transformer.text_model.embeddings.position_ids"] = torch.arange(77, dtype=torch.int64).view(1, 77)
    sd["model_ema.num_updates"] = torch.tensor(5, dtype=torch.int)
    sd["model.diffusion_model.input_blocks.0.0.weight"] = torch.ones(4, 4, 1, 1)
    extras = odd_tensors()
    sd.update(extras)
    torch.save({"state_dict": sd, "global_step": 470000, "epoch": 6}, os.path.join(OUT, "sd_style.ckpt"))
    save_file({k: v.float().clone().contiguous() for k, v in extras.items() if v.is_floating_point()},
              os.path.join(OUT, "expected.safetensors"))


def original_tool_style():
    state = weights()
    state["encoder.conv_in.weight"] = torch.nn.Parameter(state["encoder.conv_in.weight"])
    state._metadata = {"": {"version": 1}}  # as nn.Module.state_dict() leaves it: pickled with BUILD
    # Adam over a few of the tensors only, to keep the file small; its structure is that of a full state dict.
    params = [torch.nn.Parameter(state[k].clone()) for k in ["decoder.conv_in.bias", "encoder.conv_out.bias"]]
    opt = torch.optim.Adam(params, lr=1e-4, betas=(0.9, 0.999))
    sum((p * p).sum() for p in params).backward()
    opt.step()
    torch.save({"epoch": 2, "model_state_dict": state, "optimizer_state_dict": opt.state_dict(), "loss": 0.5},
               os.path.join(OUT, "vae_epoch_2.pt"))


def top_level():
    names = ["decoder.conv_out.bias", "decoder.conv_out.weight", "quant_conv.bias"]
    w = weights()
    torch.save(collections.OrderedDict((k, w[k]) for k in names), os.path.join(OUT, "top_level.pt"))


def lightning_style():
    """What PyTorch Lightning checkpoints (e.g. Stable Diffusion's) carry beside the weights: the callback class
    as a dict key and numpy scalars and arrays in its state. A stand-in class is pickled under Lightning's name
    so that Lightning need not be installed."""
    module_name = "pytorch_lightning.callbacks.model_checkpoint"
    for name in ["pytorch_lightning", "pytorch_lightning.callbacks", module_name]:
        sys.modules.setdefault(name, types.ModuleType(name))
    ModelCheckpoint = type("ModelCheckpoint", (), {"__module__": module_name})
    sys.modules[module_name].ModelCheckpoint = ModelCheckpoint
    sd = collections.OrderedDict(("first_stage_model." + k, v) for k, v in list(weights().items())[:2])
    callbacks = {ModelCheckpoint: {"monitor": "val/loss", "best_model_score": numpy.float64(0.25),
                                   "kth_value": numpy.array([1.0, 2.0]), "best_k_models": {}}}
    torch.save({"epoch": 3, "global_step": 100, "pytorch-lightning_version": "1.4.2", "state_dict": sd,
                "callbacks": callbacks, "optimizer_states": [], "lr_schedulers": []},
               os.path.join(OUT, "lightning_style.ckpt"))


class RunsACommand:
    """What an attacker pickles: unpickling it in Python would call os.system."""
    def __reduce__(self):
        return (os.system, (f"touch {MARKER}",))


def malicious():
    sd = collections.OrderedDict((k, v) for k, v in list(weights().items())[:2])
    torch.save({"state_dict": sd, "payload": RunsACommand()}, os.path.join(OUT, "malicious.pt"))


def legacy():
    sd = collections.OrderedDict((k, v) for k, v in list(weights().items())[:2])
    torch.save(sd, os.path.join(OUT, "legacy.pt"), _use_new_zipfile_serialization=False)


def compressed():
    """top_level.pt re-zipped with deflate, as a user's zip tool might: the reader must refuse it clearly."""
    source = zipfile.ZipFile(os.path.join(OUT, "top_level.pt"))
    with zipfile.ZipFile(os.path.join(OUT, "compressed.pt"), "w", compression=zipfile.ZIP_DEFLATED) as out:
        for name in source.namelist():
            out.writestr(name, source.read(name))


def big_endian():
    """A state dict as a big-endian machine writes it, in a zip whose top folder is not 'archive' and whose
    entries carry zip64 extra fields (Python's zipfile, not torch's writer)."""
    g = torch.Generator().manual_seed(1)
    sd = {"a.f32": torch.randn(2, 3, generator=g), "b.f64": torch.randn(4, generator=g, dtype=torch.float64),
          "c.f16": torch.randn(5, generator=g).half()}
    buffer = io.BytesIO()
    torch.save(sd, buffer)
    buffer.seek(0)
    source = zipfile.ZipFile(buffer)
    pickle_name = next(n for n in source.namelist() if n.endswith("/data.pkl"))
    prefix = pickle_name[: -len("data.pkl")]
    # Which storage key holds which dtype: the order torch.save met them in is the order of the dict.
    key_width = {str(i): t.element_size() for i, t in enumerate(sd.values())}
    path = os.path.join(OUT, "big_endian.pt")
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as out:
        for name in source.namelist():
            data = source.read(name)
            rest = name[len(prefix):]
            if rest == "byteorder":
                data = b"big"
            elif rest.startswith("data/"):
                width = key_width[rest[len("data/"):]]
                data = b"".join(data[i:i + width][::-1] for i in range(0, len(data), width))
            with out.open("big_endian_model/" + rest, "w", force_zip64=True) as f:
                f.write(data)
    save_file({k: v.float().contiguous() for k, v in sd.items()}, os.path.join(OUT, "big_endian.expected.safetensors"))


if __name__ == "__main__":
    os.makedirs(OUT, exist_ok=True)
    sd_style()
    original_tool_style()
    top_level()
    lightning_style()
    compressed()
    malicious()
    legacy()
    big_endian()
    assert not os.path.exists(MARKER)
    for name in sorted(os.listdir(OUT)):
        print(name, os.path.getsize(os.path.join(OUT, name)))
