#!/usr/bin/env bash
# Checks with PyTorch itself that vae-dist's .pt checkpoints are what the original PyTorch tool's users can load.
# Trains the tiny model of Tests/Fixtures/vae-tiny-g8 for two short epochs on `vae-dist synth-data` phantoms at
# 32 px with --save_format both, exports the vae-small-g32 fixture weights with --format pt, then in Python:
#   - builds ldm's AutoencoderKL from a minimal copy of ldm's module definitions below (ldm is not on PyPI; the
#     copy takes norm_num_groups, which ldm fixes at 32, for the 8-group fixture) from the fixture's yaml;
#   - runs the original tool's resume snippet on every .pt: torch.load (weights_only=True, as torch ≥ 2.6 loads by
#     default), strict model.load_state_dict(checkpoint['model_state_dict']), optimizer.load_state_dict(...),
#     start_epoch = checkpoint['epoch'], and one more training step;
#   - checks that the weights and Adam's moments, mapped to parameters by torch's own index (model.parameters()
#     order), equal vae-dist's safetensors twin bit for bit, and that step, epoch and loss are vae-dist's;
#   - the other way round: torch trains the model two Adam steps and torch.save()s it in the original tool's
#     layout; `vae-dist train --resume` continues it for one step (one batch per epoch), and its update must be
#     torch's Adam.step from the saved state on the same gradient (recovered from vae-dist's first moment) within
#     1e-6, with the step count and the second moment agreeing.
# Needs a Python with torch, numpy and PyYAML: PYTHON (default python3). Without them it says so and exits 0.
# VAE_DIST=/path/to/vae-dist uses that binary instead of building the release one.
set -euo pipefail
cd "$(dirname "$0")/.."
python="${PYTHON:-python3}"
if ! "$python" -c 'import torch, numpy, yaml' >/dev/null 2>&1; then
    echo "skipped: no torch in $python (pip install torch --index-url https://download.pytorch.org/whl/cpu pyyaml)"
    exit 0
fi
source scripts/lib/vae-dist-run.sh   # bin, work, quiet
fixtures=Tests/Fixtures
tiny="$fixtures/vae-tiny-g8/config.yaml"
size=32

quiet synth-data --output "$work/phantoms" --count 6 --pairs 0 --img_size "$size" --seed 3
# 6 images at batch 4: two steps per epoch, the second a partial batch.
quiet train --train_dir "$work/phantoms/train" --config_path "$tiny" --output_dir "$work/run" --img_size "$size" \
    --epochs 2 --batch_size 4 --lr 1e-3 --kl_weight 1e-6 --save_interval 1 --num_recon 2 --threads 2 --save_format both
quiet export --checkpoint "$fixtures/vae-small-g32/weights.ldm.safetensors" --config "$fixtures/vae-small-g32/config.yaml" \
    --format pt --output "$work/small.pt"

# ldm's model and the checks' helpers, for the Python steps below.
cat >"$work/seedlib.py" <<'LIB'
import json, struct, sys
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F
import yaml

failures = []


def check(ok, what):
    print(("ok   " if ok else "FAIL ") + what)
    if not ok:
        failures.append(what)


# ---- ldm's AutoencoderKL (ldm/modules/diffusionmodules/model.py, ldm/models/autoencoder.py), in its module
# ---- registration order; inference only needs what training one step needs.
def swish(x):
    return x * torch.sigmoid(x)


def Normalize(channels, groups):
    return nn.GroupNorm(num_groups=groups, num_channels=channels, eps=1e-6, affine=True)


class Upsample(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.conv = nn.Conv2d(c, c, 3, 1, 1)

    def forward(self, x):
        return self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))


class Downsample(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.conv = nn.Conv2d(c, c, 3, 2, 0)

    def forward(self, x):
        return self.conv(F.pad(x, (0, 1, 0, 1)))


class ResnetBlock(nn.Module):
    def __init__(self, cin, cout, groups):
        super().__init__()
        self.norm1 = Normalize(cin, groups)
        self.conv1 = nn.Conv2d(cin, cout, 3, 1, 1)
        self.norm2 = Normalize(cout, groups)
        self.dropout = nn.Dropout(0.0)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1)
        if cin != cout:
            self.nin_shortcut = nn.Conv2d(cin, cout, 1, 1, 0)

    def forward(self, x):
        h = self.conv2(self.dropout(swish(self.norm2(self.conv1(swish(self.norm1(x)))))))
        return (self.nin_shortcut(x) if hasattr(self, "nin_shortcut") else x) + h


class AttnBlock(nn.Module):
    def __init__(self, c, groups):
        super().__init__()
        self.norm = Normalize(c, groups)
        self.q, self.k, self.v, self.proj_out = (nn.Conv2d(c, c, 1) for _ in range(4))

    def forward(self, x):
        h = self.norm(x)
        q, k, v = self.q(h), self.k(h), self.v(h)
        b, c, hh, ww = q.shape
        w = torch.softmax(torch.bmm(q.reshape(b, c, -1).permute(0, 2, 1), k.reshape(b, c, -1)) * c ** -0.5, dim=2)
        return x + self.proj_out(torch.bmm(v.reshape(b, c, -1), w.permute(0, 2, 1)).reshape(b, c, hh, ww))


class Encoder(nn.Module):
    def __init__(self, ch, ch_mult, num_res_blocks, attn_resolutions, in_channels, resolution, z_channels, double_z, groups, **_):
        super().__init__()
        self.conv_in = nn.Conv2d(in_channels, ch, 3, 1, 1)
        res, mult, block_in = resolution, (1,) + tuple(ch_mult), ch
        self.down = nn.ModuleList()
        for level in range(len(ch_mult)):
            down, block_in = nn.Module(), ch * mult[level]
            down.block, down.attn = nn.ModuleList(), nn.ModuleList()
            for _ in range(num_res_blocks):
                down.block.append(ResnetBlock(block_in, ch * ch_mult[level], groups))
                block_in = ch * ch_mult[level]
                if res in attn_resolutions:
                    down.attn.append(AttnBlock(block_in, groups))
            if level != len(ch_mult) - 1:
                down.downsample = Downsample(block_in)
                res //= 2
            self.down.append(down)
        self.mid = nn.Module()
        self.mid.block_1 = ResnetBlock(block_in, block_in, groups)
        self.mid.attn_1 = AttnBlock(block_in, groups)
        self.mid.block_2 = ResnetBlock(block_in, block_in, groups)
        self.norm_out = Normalize(block_in, groups)
        self.conv_out = nn.Conv2d(block_in, 2 * z_channels if double_z else z_channels, 3, 1, 1)

    def forward(self, x):
        h = self.conv_in(x)
        for level, down in enumerate(self.down):
            for i, block in enumerate(down.block):
                h = block(h)
                if len(down.attn) > 0:
                    h = down.attn[i](h)
            if hasattr(down, "downsample"):
                h = down.downsample(h)
        h = self.mid.block_2(self.mid.attn_1(self.mid.block_1(h)))
        return self.conv_out(swish(self.norm_out(h)))


class Decoder(nn.Module):
    def __init__(self, ch, out_ch, ch_mult, num_res_blocks, attn_resolutions, resolution, z_channels, groups, **_):
        super().__init__()
        block_in, res = ch * ch_mult[-1], resolution // 2 ** (len(ch_mult) - 1)
        self.conv_in = nn.Conv2d(z_channels, block_in, 3, 1, 1)
        self.mid = nn.Module()
        self.mid.block_1 = ResnetBlock(block_in, block_in, groups)
        self.mid.attn_1 = AttnBlock(block_in, groups)
        self.mid.block_2 = ResnetBlock(block_in, block_in, groups)
        self.up = nn.ModuleList()
        for level in reversed(range(len(ch_mult))):
            up = nn.Module()
            up.block, up.attn = nn.ModuleList(), nn.ModuleList()
            for _ in range(num_res_blocks + 1):
                up.block.append(ResnetBlock(block_in, ch * ch_mult[level], groups))
                block_in = ch * ch_mult[level]
                if res in attn_resolutions:
                    up.attn.append(AttnBlock(block_in, groups))
            if level != 0:
                up.upsample = Upsample(block_in)
                res *= 2
            self.up.insert(0, up)
        self.norm_out = Normalize(block_in, groups)
        self.conv_out = nn.Conv2d(block_in, out_ch, 3, 1, 1)

    def forward(self, z):
        h = self.mid.block_2(self.mid.attn_1(self.mid.block_1(self.conv_in(z))))
        for up in reversed(self.up):
            for i, block in enumerate(up.block):
                h = block(h)
                if len(up.attn) > 0:
                    h = up.attn[i](h)
            if hasattr(up, "upsample"):
                h = up.upsample(h)
        return self.conv_out(swish(self.norm_out(h)))


class AutoencoderKL(nn.Module):
    def __init__(self, embed_dim, ddconfig, groups):
        super().__init__()
        self.encoder = Encoder(**ddconfig, groups=groups)
        self.decoder = Decoder(**ddconfig, groups=groups)
        self.loss = nn.Identity()
        self.quant_conv = nn.Conv2d(2 * ddconfig["z_channels"], 2 * embed_dim, 1)
        self.post_quant_conv = nn.Conv2d(embed_dim, ddconfig["z_channels"], 1)

    def forward(self, x):
        mean, logvar = self.quant_conv(self.encoder(x)).chunk(2, dim=1)
        logvar = logvar.clamp(-30.0, 20.0)
        z = mean + torch.exp(0.5 * logvar) * torch.randn_like(mean)
        kl = 0.5 * (mean ** 2 + logvar.exp() - 1.0 - logvar).sum(dim=[1, 2, 3])
        return self.decoder(self.post_quant_conv(z)), kl


def ldm_model(config_yaml):
    params = yaml.safe_load(Path(config_yaml).read_text())["model"]["params"]["first_stage_config"]["params"]
    return AutoencoderKL(params["embed_dim"], params["ddconfig"], params.get("norm_num_groups", 32))


def read_safetensors(path):
    """Tensors and metadata of a safetensors file (F32 only: vae-dist's), without the safetensors package."""
    raw = Path(path).read_bytes()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    meta = header.pop("__metadata__", {})
    data = raw[8 + n:]
    return {k: torch.frombuffer(bytearray(data[v["data_offsets"][0]:v["data_offsets"][1]]), dtype=torch.float32).reshape(v["shape"])
            for k, v in header.items()}, meta


def bits_equal(a, b):
    return a.shape == b.shape and torch.equal(a.contiguous().view(torch.int32), b.contiguous().view(torch.int32))


def seed_resume(path, config_yaml, size, lr=1e-4):
    """The original tool's resume snippet, then one more training step."""
    model = ldm_model(config_yaml)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    checkpoint = torch.load(path, weights_only=True)
    model.load_state_dict(checkpoint["model_state_dict"])          # strict
    optimizer.load_state_dict(checkpoint["optimizer_state_dict"])
    start_epoch = checkpoint["epoch"]
    x = torch.rand(2, 3, size, size) * 2 - 1
    recon, kl = model(x)
    loss = F.mse_loss(recon, x) + 1e-6 * kl.mean()
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return model, optimizer, checkpoint, start_epoch, loss.item()


def finish(what):
    if failures:
        sys.exit(f"{len(failures)} check(s) failed")
    print(what)
LIB

"$python" - "$work" "$fixtures" "$size" <<'PY'
import sys
from pathlib import Path

import torch
sys.path.insert(0, sys.argv[1])
from seedlib import *

work, fixtures, size = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
tiny = fixtures / "vae-tiny-g8" / "config.yaml"
run = work / "run"
names = [n for n, _ in ldm_model(tiny).named_parameters()]
for stem in ["checkpoints/vae_epoch_1", "checkpoints/vae_epoch_2", "vae_final"]:
    pt = run / f"{stem}.pt"
    ours, meta = read_safetensors(run / f"{stem}.safetensors")
    position = json.loads(meta["position"])
    # The tensors as loaded, before the extra step changes them.
    checkpoint = torch.load(pt, weights_only=True)
    state = checkpoint["model_state_dict"]
    check(list(state) == names, f"{stem}.pt: model_state_dict holds exactly ldm's parameters, in model.parameters() order")
    check(all(bits_equal(state[n], ours[n]) for n in names), f"{stem}.pt: weights equal vae-dist's bit for bit")
    opt = checkpoint["optimizer_state_dict"]
    reference = torch.optim.Adam(ldm_model(tiny).parameters(), lr=1e-3).state_dict()["param_groups"][0]
    group = opt["param_groups"][0]
    check(list(group) == list(reference) and all(group[k] == reference[k] for k in reference),
          f"{stem}.pt: param_groups[0] is torch {torch.__version__}'s for Adam(lr=1e-3): {', '.join(group)}")
    moments = all(bits_equal(opt["state"][i][m], ours[f"optimizer.{m}.{n}"]) for i, n in enumerate(names) for m in ["exp_avg", "exp_avg_sq"])
    check(moments, f"{stem}.pt: Adam's moments by torch's parameter index equal vae-dist's for that parameter bit for bit")
    steps = {opt["state"][i]["step"].item() for i in range(len(names))}
    dtypes = {(opt["state"][i]["step"].dtype, opt["state"][i]["step"].dim()) for i in range(len(names))}
    check(steps == {position["adamStep"]} and dtypes == {(torch.float32, 0)},
          f"{stem}.pt: every step is a float32 0-d tensor holding vae-dist's {position['adamStep']}")
    last = position["history"][-1]["total_loss"]
    check(checkpoint["epoch"] == position["epoch"] and checkpoint["loss"] == last,
          f"{stem}.pt: epoch {checkpoint['epoch']} and loss {checkpoint['loss']:.6g} are vae-dist's")
    model, optimizer, _, start_epoch, loss = seed_resume(pt, tiny, size, lr=1e-3)
    after = optimizer.state_dict()["state"][0]["step"].item()
    check(start_epoch == position["epoch"] and after == position["adamStep"] + 1 and loss == loss,
          f"{stem}.pt: the original snippet resumes at epoch {start_epoch} and takes step {after:.0f} (loss {loss:.4f})")

# export --format pt of plain weights: the original tool's file before its first step.
small = fixtures / "vae-small-g32"
reference, _ = read_safetensors(small / "weights.ldm.safetensors")
checkpoint = torch.load(work / "small.pt", weights_only=True)
check(checkpoint["epoch"] == 0 and checkpoint["loss"] is None and checkpoint["optimizer_state_dict"]["state"] == {},
      "export small.pt: epoch 0, loss None, a fresh optimizer's empty state")
check(checkpoint["optimizer_state_dict"] == torch.optim.Adam(ldm_model(small / "config.yaml").parameters(), lr=1e-4).state_dict(),
      "export small.pt: optimizer_state_dict is exactly torch's for a fresh Adam(lr=1e-4)")
check(all(bits_equal(checkpoint["model_state_dict"][k], v) for k, v in reference.items()) and len(reference) == len(checkpoint["model_state_dict"]),
      "export small.pt: the fixture's weights bit for bit")
model, optimizer, _, start_epoch, loss = seed_resume(work / "small.pt", small / "config.yaml", size)
check(start_epoch == 0 and optimizer.state_dict()["state"][0]["step"].item() == 1,
      f"export small.pt: the original snippet loads it (strict) and trains a step (loss {loss:.4f})")

finish("vae-dist's .pt files load in PyTorch as the original tool's")
PY

# The original tool's own file, torch.save()d after two Adam steps; vae-dist continues it for one step.
"$python" - "$work" "$tiny" "$size" <<'PY'
import sys
from pathlib import Path

import torch
sys.path.insert(0, sys.argv[1])
from seedlib import *

work, tiny, size = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
torch.manual_seed(0)
model = ldm_model(tiny)
optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
for _ in range(2):
    x = torch.rand(3, 3, size, size) * 2 - 1
    recon, kl = model(x)
    loss = F.mse_loss(recon, x) + 1e-6 * kl.mean()
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
(work / "original" / "checkpoints").mkdir(parents=True)
torch.save({"epoch": 1, "model_state_dict": model.state_dict(), "optimizer_state_dict": optimizer.state_dict(), "loss": loss.item()},
           work / "original" / "checkpoints" / "vae_epoch_1.pt")
PY
# 6 images at batch 6: epoch 2 is one step.
"$bin" train --resume "$work/original/checkpoints/vae_epoch_1.pt" --train_dir "$work/phantoms/train" --config_path "$tiny" \
    --output_dir "$work/continued" --img_size "$size" --epochs 2 --batch_size 6 --lr 1e-3 --kl_weight 1e-6 --num_recon 0 \
    --threads 2 --save_format pt >"$work/continued.log" 2>&1 || { cat "$work/continued.log"; echo "FAIL vae-dist train --resume"; exit 1; }

"$python" - "$work" "$tiny" <<'PY'
import sys
from pathlib import Path

import torch
sys.path.insert(0, sys.argv[1])
from seedlib import *

work, tiny = Path(sys.argv[1]), sys.argv[2]
log = (work / "continued.log").read_text()
for part in ["continuing a run of the original PyTorch tool", "Adam at step 2", "training goes on at epoch 2 of 2",
             "the data order starts fresh"]:
    check(part in log, f"vae-dist's log says '{part}'")
before = torch.load(work / "original" / "checkpoints" / "vae_epoch_1.pt", weights_only=True)
after = torch.load(work / "continued" / "vae_final.pt", weights_only=True)
state_before, state_after = before["optimizer_state_dict"]["state"], after["optimizer_state_dict"]["state"]
check(after["epoch"] == 2 and {s["step"].item() for s in state_after.values()} == {3.0},
      "vae-dist went on at epoch 2 with Adam's step 3 (the saved 2, plus one)")
beta1, beta2 = before["optimizer_state_dict"]["param_groups"][0]["betas"]
# The gradient vae-dist applied, from its first moment: m' = beta1 m + (1 - beta1) g.
model = ldm_model(tiny)
model.load_state_dict(before["model_state_dict"])
optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
optimizer.load_state_dict(before["optimizer_state_dict"])
for i, p in enumerate(model.parameters()):
    m0, m1 = state_before[i]["exp_avg"].double(), state_after[i]["exp_avg"].double()
    p.grad = ((m1 - beta1 * m0) / (1 - beta1)).float()
optimizer.step()
names = list(before["model_state_dict"])
weights = max((p.detach() - after["model_state_dict"][n]).abs().max().item() for n, p in zip(names, model.parameters()))
moved = max((after["model_state_dict"][n] - before["model_state_dict"][n]).abs().max().item() for n in names)
check(weights <= 1e-6 and moved > 1e-4, f"vae-dist's update is torch's Adam.step on the same gradient: max |w - w_torch| {weights:.1e} "
      f"(tolerance 1e-6; the step moved weights by up to {moved:.1e})")
ours = optimizer.state_dict()["state"]
second = max(((ours[i]["exp_avg_sq"] - state_after[i]["exp_avg_sq"]).abs() / (state_after[i]["exp_avg_sq"].abs() + 1e-30)).max().item()
             for i in range(len(names)))
check(second <= 1e-5, f"and its second moment is torch's (max relative difference {second:.1e}): the saved state was taken whole")
finish("vae-dist continues the original tool's torch.save checkpoints as torch would")
PY
