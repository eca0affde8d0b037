"""PyTorch reference for scripts/bench.sh (not part of vae-dist): seconds to analyse one image pair with a
diffusers AutoencoderKL in the SD v1 VAE layout (random weights) on the CPU — encode both images, decode the
posterior means comparing every decoder block's output (L2 and cosine) — and the peak resident memory.
Needs PyTorch (its CPU build: pip install torch --index-url https://download.pytorch.org/whl/cpu, or the wheel
from PyPI) and diffusers (pip install diffusers).
Usage: torch_analyze_pair.py IMG_SIZE THREADS [CH]"""
import sys, time, resource, torch
from diffusers import AutoencoderKL
img, thr = int(sys.argv[1]), int(sys.argv[2]); ch = int(sys.argv[3]) if len(sys.argv) > 3 else 128
torch.set_num_threads(thr); torch.manual_seed(0)
vae = AutoencoderKL(down_block_types=["DownEncoderBlock2D"] * 4, up_block_types=["UpDecoderBlock2D"] * 4,
                    block_out_channels=[ch, 2 * ch, 4 * ch, 4 * ch], layers_per_block=2, latent_channels=4).eval()
metrics = {}
def hook(name):
    def h(m, i, o):
        a, b = o[0].flatten(), o[1].flatten()
        metrics[name] = (float((a - b).norm()), 1 - float(torch.dot(a, b) / (a.norm() * b.norm())))
    return h
d = vae.decoder
d.conv_in.register_forward_hook(hook("conv_in"))
for i, r in enumerate(d.mid_block.resnets): r.register_forward_hook(hook(f"mid.{i}"))
for k, ub in enumerate(d.up_blocks):
    for j, r in enumerate(ub.resnets): r.register_forward_hook(hook(f"up.{k}.{j}"))
d.conv_out.register_forward_hook(hook("conv_out"))
x = torch.rand(2, 3, img, img) * 2 - 1
def run():
    with torch.no_grad():
        vae.decode(vae.encode(x).latent_dist.mode())
run()
t = time.perf_counter(); run(); dt = time.perf_counter() - t
print(f"img={img} s/pair={dt:.2f} layers={len(metrics)} maxrss_MB={resource.getrusage(resource.RUSAGE_SELF).ru_maxrss/1024:.0f}")
