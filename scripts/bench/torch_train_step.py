"""PyTorch reference for scripts/bench.sh (not part of vae-dist): seconds per training step of a diffusers
AutoencoderKL on the CPU — encode, sample, decode, MSE + KL, backward, Adam — and the peak resident memory.
Needs PyTorch (its CPU build: pip install torch --index-url https://download.pytorch.org/whl/cpu, or the wheel
from PyPI) and diffusers (pip install diffusers).
Usage: torch_train_step.py CH MULT(comma) NRES IMG BATCH STEPS THREADS [MICRO]
MICRO (default BATCH) splits each step's batch into micro-batches of that size whose gradients accumulate:
for batches whose activations would not fit in memory at once (same arithmetic per step)."""
import sys, time, torch, resource
from diffusers import AutoencoderKL
ch, mult, nres, img, bs, steps, thr = sys.argv[1:8]
ch=int(ch); mult=[int(m) for m in mult.split(',')]; nres=int(nres); img=int(img); bs=int(bs); steps=int(steps)
micro = int(sys.argv[8]) if len(sys.argv) > 8 else bs
torch.set_num_threads(int(thr)); torch.manual_seed(0)
vae = AutoencoderKL(in_channels=3, out_channels=3,
    down_block_types=["DownEncoderBlock2D"]*len(mult), up_block_types=["UpDecoderBlock2D"]*len(mult),
    block_out_channels=[ch*m for m in mult], layers_per_block=nres, latent_channels=4, norm_num_groups=32, sample_size=img)
opt = torch.optim.Adam(vae.parameters(), lr=1e-4)
x = torch.rand(bs,3,img,img)*2-1
def step():
    opt.zero_grad()
    for part in x.split(micro):
        post = vae.encode(part).latent_dist
        z = post.sample()
        rec = vae.decode(z).sample
        loss = torch.nn.functional.mse_loss(rec, part) + 1.0*post.kl().mean()/ (img*img*3)
        (loss * part.shape[0] / bs).backward()
    opt.step()
step()
t=time.perf_counter()
for _ in range(steps): step()
dt=(time.perf_counter()-t)/steps
n=sum(p.numel() for p in vae.parameters())
print(f"params={n} img={img} bs={bs} s/step={dt:.3f} img/s={bs/dt:.3f} maxrss_MB={resource.getrusage(resource.RUSAGE_SELF).ru_maxrss/1024:.0f}")
