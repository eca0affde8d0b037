"""Writes the diffusers config.json fixtures of Tests/Fixtures/model-source/ with diffusers itself.

Needs: pip install torch --index-url https://download.pytorch.org/whl/cpu (or the CPU wheel from PyPI),
       pip install diffusers safetensors
Run from the repository root: python tools/make_diffusers_configs.py

- vae-tiny-g8/config.json: the tiny fixture model (Tests/Fixtures/vae-tiny-g8) as a diffusers AutoencoderKL. The
  script loads the fixture's diffusers weights into it with strict=True, so the config provably describes them.
- sd-v1/config.json: Stable Diffusion v1's VAE as diffusers configures it (runwayml/stable-diffusion-v1-5 vae/).
"""
import json
import os

from diffusers import AutoencoderKL
from safetensors.torch import load_file

OUT = "Tests/Fixtures/model-source"

tiny = AutoencoderKL(
    in_channels=3, out_channels=3, latent_channels=4, layers_per_block=1, norm_num_groups=8, sample_size=16,
    block_out_channels=(16, 32),
    down_block_types=("DownEncoderBlock2D", "AttnDownEncoderBlock2D"),
    up_block_types=("AttnUpDecoderBlock2D", "UpDecoderBlock2D"),
)
tiny.load_state_dict(load_file("Tests/Fixtures/vae-tiny-g8/weights.diffusers.safetensors"), strict=True)

sd_v1 = AutoencoderKL(
    in_channels=3, out_channels=3, latent_channels=4, layers_per_block=2, norm_num_groups=32, sample_size=512,
    block_out_channels=(128, 256, 512, 512),
    down_block_types=("DownEncoderBlock2D",) * 4,
    up_block_types=("UpDecoderBlock2D",) * 4,
)

for name, model in [("vae-tiny-g8", tiny), ("sd-v1", sd_v1)]:
    os.makedirs(f"{OUT}/{name}", exist_ok=True)
    model.save_config(f"{OUT}/{name}")
    with open(f"{OUT}/{name}/config.json") as f:
        print(name, json.load(f))
