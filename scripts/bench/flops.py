"""Counts the floating-point operations of one training step of a diffusers AutoencoderKL with PyTorch's
FlopCounterMode (the direct convolutions' count; vae-dist bench reports Winograd's reduced count).
Needs PyTorch (pip install torch --index-url https://download.pytorch.org/whl/cpu, or the wheel from PyPI) and
diffusers (pip install diffusers).
Usage: flops.py CH MULT(comma) NRES IMG BATCH"""
import sys, torch
from diffusers import AutoencoderKL
from torch.utils.flop_counter import FlopCounterMode
ch, mult, nres, img, bs = sys.argv[1:6]
ch=int(ch); mult=[int(m) for m in mult.split(',')]; nres=int(nres); img=int(img); bs=int(bs)
vae = AutoencoderKL(in_channels=3, out_channels=3,
    down_block_types=["DownEncoderBlock2D"]*len(mult), up_block_types=["UpDecoderBlock2D"]*len(mult),
    block_out_channels=[ch*m for m in mult], layers_per_block=nres, latent_channels=4, norm_num_groups=32, sample_size=img)
x = torch.rand(bs,3,img,img)*2-1
with FlopCounterMode(display=False) as fc:
    post = vae.encode(x).latent_dist; rec = vae.decode(post.sample()).sample
    loss = torch.nn.functional.mse_loss(rec, x) + post.kl().mean(); loss.backward()
print("train GFLOP per step", fc.get_total_flops()/1e9)
