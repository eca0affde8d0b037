#!/usr/bin/env bash
# Checks that PyTorch loads what `vae-dist export` writes, with the README's own lines, and gets our model back.
# Trains nothing: it exports the fixture models (Tests/Fixtures/vae-tiny-g8: 8 groups and block attention;
# vae-small-g32: 32 groups as ldm) with the release binary, reconstructs one image with `vae-dist reconstruct`,
# then in Python:
#   diffusers  AutoencoderKL.from_pretrained(folder) logs and warns nothing, encodes the image to vae-dist's
#              latents and decodes them to vae-dist's reconstruction;
#   ldm        the file holds exactly the fixture's ldm tensors (names, shapes, values): what ldm's
#              AutoencoderKL.load_state_dict(strict=True) takes (ldm is not on PyPI, so it is not loaded here);
#   sd         the same under first_stage_model., and diffusers' SD checkpoint loader (from_single_file) reads
#              it to the same model as the diffusers folder, without warnings;
#   ldm and sd must be refused for the 8-group model.
# Needs a Python with torch, diffusers, safetensors, numpy and pillow: PYTHON (default python3). Without them it
# says so and exits 0:  pip install torch --index-url https://download.pytorch.org/whl/cpu diffusers
set -euo pipefail
cd "$(dirname "$0")/.."
python="${PYTHON:-python3}"
if ! "$python" -c 'import torch, diffusers, safetensors, numpy, PIL' >/dev/null 2>&1; then
    echo "skipped: no torch+diffusers in $python (pip install torch --index-url https://download.pytorch.org/whl/cpu diffusers)"
    exit 0
fi
swift build -c release --product vae-dist >/dev/null   # up to date with the sources under test
bin="$(swift build -c release --show-bin-path)/vae-dist"
# Everything is local: diffusers must not reach for the Hugging Face hub.
export HF_HUB_OFFLINE=1
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
fixtures=Tests/Fixtures
image="$fixtures/images-64/astronaut_rgb8.png"
size=32

for model in vae-tiny-g8 vae-small-g32; do
    weights=("--checkpoint" "$fixtures/$model/weights.ldm.safetensors" "--config" "$fixtures/$model/config.yaml")
    out="$work/$model"
    "$bin" export "${weights[@]}" --format diffusers --output "$out/diffusers"
    "$bin" reconstruct "${weights[@]}" --img_size "$size" --output "$out/recon" "$image" >/dev/null
    for format in ldm sd; do
        if [ "$model" = vae-tiny-g8 ]; then
            if message="$("$bin" export "${weights[@]}" --format "$format" --output "$out/vae.$format.safetensors" 2>&1)"; then
                echo "FAIL $model $format: exported a model with 8 groups, which ldm cannot hold"; exit 1
            fi
            grep -q "norm_num_groups 8" <<<"$message" || { echo "FAIL $model $format: unclear refusal: $message"; exit 1; }
            echo "ok   $model $format: refused ($message)"
        else
            "$bin" export "${weights[@]}" --format "$format" --output "$out/vae.$format.safetensors"
        fi
    done
done

"$python" - "$work" "$fixtures" "$image" "$size" <<'PY'
import logging, sys, warnings
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from safetensors.torch import load_file
from diffusers import AutoencoderKL

work, fixtures, image, size = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3], int(sys.argv[4])
stem = Path(image).stem
# Said when the optional package accelerate is missing: about the Python environment, not the files.
ENVIRONMENT_NOTICE = "Cannot initialize model with low cpu memory usage because `accelerate` was not found"
failures = []


def check(ok, what):
    print(("ok   " if ok else "FAIL ") + what)
    if not ok:
        failures.append(what)


class Collect(logging.Handler):
    def __init__(self):
        super().__init__()
        self.messages = []

    def emit(self, record):
        self.messages.append(record.getMessage())


def loud(load):
    """load()'s result and every log line or warning it caused."""
    handler, logger = Collect(), logging.getLogger("diffusers")
    logger.addHandler(handler)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            result = load()
    finally:
        logger.removeHandler(handler)
    messages = [m for m in handler.messages if not m.startswith(ENVIRONMENT_NOTICE)] + [str(w.message) for w in caught]
    if len(messages) < len(handler.messages) + len(caught):
        print("note: diffusers' notice that accelerate is missing is about this Python, not the files; not counted")
    return result, messages


def same_tensors(a, b):
    return a.keys() == b.keys() and all(a[k].shape == b[k].shape and torch.equal(a[k], b[k]) for k in a)


torch.set_grad_enabled(False)
for model in ["vae-tiny-g8", "vae-small-g32"]:
    out = work / model
    # The README's diffusers line.
    vae, messages = loud(lambda: AutoencoderKL.from_pretrained(out / "diffusers"))
    check(not messages, f"{model} diffusers: from_pretrained without warnings {messages or ''}")

    # vae-dist's reconstruct: PIL bilinear resize, [-1, 1], posterior mean, decode, 8-bit.
    rgb = Image.open(image).convert("RGB").resize((size, size), Image.BILINEAR)
    x = torch.from_numpy(np.asarray(rgb, dtype=np.float32) / 255 * 2 - 1).permute(2, 0, 1)[None]
    ours = load_file(out / "recon" / "latents.safetensors")[stem]
    mean = vae.encode(x).latent_dist.mean[0]
    error, tolerance = (mean - ours).abs().max().item(), 1e-4 * max(1.0, ours.abs().max().item())
    check(error <= tolerance, f"{model} diffusers: encodes to vae-dist's latents (max diff {error:.1e}, tolerance {tolerance:.0e})")
    decoded = ((vae.decode(ours[None]).sample[0].clamp(-1, 1) + 1) / 2 * 255).round()
    png = torch.from_numpy(np.asarray(Image.open(out / "recon" / f"{stem}_recon.png").convert("RGB"), dtype=np.float32))
    levels = (decoded - png.permute(2, 0, 1)).abs().max().item()
    check(levels <= 1, f"{model} diffusers: decodes vae-dist's latents to its reconstruction (max diff {levels:.0f} of 255)")

    if model == "vae-tiny-g8":
        continue
    reference = load_file(fixtures / model / "weights.ldm.safetensors")
    # The README's ldm line loads this dict into ldm's AutoencoderKL with strict=True.
    check(same_tensors(load_file(out / "vae.ldm.safetensors"), reference),
          f"{model} ldm: exactly the ldm tensors (names, shapes, values), nothing else")
    sd_path = out / "vae.sd.safetensors"
    sd = load_file(sd_path)
    stripped = {k.removeprefix("first_stage_model."): v for k, v in sd.items()}
    check(all(k.startswith("first_stage_model.") for k in sd) and same_tensors(stripped, reference),
          f"{model} sd: the ldm tensors under first_stage_model.")
    single, messages = loud(lambda: AutoencoderKL.from_single_file(sd_path, config=str(out / "diffusers")))
    check(not messages and same_tensors(single.state_dict(), vae.state_dict()),
          f"{model} sd: from_single_file gives the diffusers folder's model without warnings {messages or ''}")

if failures:
    sys.exit(f"{len(failures)} check(s) failed")
print("all PyTorch interop checks passed")
PY
