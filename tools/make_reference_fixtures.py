#!/usr/bin/env python3
"""Writes the model reference fixtures Tests/Fixtures/vae-tiny-g8/ and Tests/Fixtures/vae-small-g32/.

Needs: torch (the CPU build is enough: `pip install torch --index-url https://download.pytorch.org/whl/cpu`, or the
CPU wheel from PyPI), plus `pip install diffusers safetensors`. Run from the repository root:

    python tools/make_reference_fixtures.py            # both models
    python tools/make_reference_fixtures.py vae-tiny-g8

The reference implementation is diffusers' AutoencoderKL (the same network as ldm's Encoder/Decoder, which the
weights are also written for under ldm's names), run in float64. Weights, input and eps are seeded and rounded to
float32 before the float64 computation, so the stored float32 files describe exactly the numbers computed with.
Every tensor and scalar is described in the reference.json it writes. The same computation is then run in
PyTorch's own float32 (one thread, deterministic algorithms) and its error on every tensor, scalar and pair metric
is written to float32-errors.json beside it: the tests allow each tensor max(a fixed bound, 1.5 × that error). After regenerating, rerun
tools/make_torch_checkpoints.py and tools/make_diffusers_configs.py (they read the tiny model's weights).
"""
import collections
import copy
import json
import os
import platform
import re
import sys

import torch
from diffusers import AutoencoderKL
from safetensors.torch import save_file

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIXTURES = os.path.join(ROOT, "Tests", "Fixtures")

ADAM = {"lr": 1e-3, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8}
KL_WEIGHT = 0.01
GROUPNORM_EPS = 1e-6

# Same shapes as the fixtures the tests were written against. `adam_steps`: parameters stored after that many
# Adam steps (only tiny: the small model's weights would double the folder's size).
MODELS = {
    "vae-tiny-g8": dict(seed=8, ch=16, ch_mult=[1, 2], num_res_blocks=1, attn_resolutions=[8], groups=8,
                        height=16, width=16, resolution=16, adam_steps=2, float16_weights=True),
    "vae-small-g32": dict(seed=32, ch=32, ch_mult=[1, 2], num_res_blocks=1, attn_resolutions=[], groups=32,
                          height=24, width=20, resolution=24, adam_steps=0, float16_weights=False),
}
BATCH = 2
LATENT_CHANNELS = 4


def ddconfig(m):
    return {"double_z": True, "z_channels": LATENT_CHANNELS, "resolution": m["resolution"], "in_channels": 3,
            "out_ch": 3, "ch": m["ch"], "ch_mult": m["ch_mult"], "num_res_blocks": m["num_res_blocks"],
            "attn_resolutions": m["attn_resolutions"], "dropout": 0.0}


def config_yaml(m):
    """ldm's SD-style config; written by hand to keep the key order of the ldm yaml files."""
    d = ddconfig(m)
    lines = ["# SD-style config; norm_num_groups is an extension (ldm fixes 32 groups)", "model:", "  params:",
             "    first_stage_config:", "      target: ldm.models.autoencoder.AutoencoderKL", "      params:",
             f"        embed_dim: {LATENT_CHANNELS}", "        ddconfig:"]
    for key, value in d.items():
        if isinstance(value, list):
            lines.append(f"          {key}:" + ("" if value else " []"))
            lines += [f"          - {v}" for v in value]
        else:
            lines.append(f"          {key}: {json.dumps(value)}")
    lines.append(f"        norm_num_groups: {m['groups']}")
    return "\n".join(lines) + "\n"


def has_attention(m, level):
    """ldm puts block attention at a level whose resolution (config resolution / 2^level) is listed."""
    return m["resolution"] // 2 ** level in m["attn_resolutions"]


def diffusers_model(m):
    levels = range(len(m["ch_mult"]))
    down = tuple("AttnDownEncoderBlock2D" if has_attention(m, i) else "DownEncoderBlock2D" for i in levels)
    up = tuple("AttnUpDecoderBlock2D" if has_attention(m, i) else "UpDecoderBlock2D" for i in reversed(levels))
    return AutoencoderKL(in_channels=3, out_channels=3, latent_channels=LATENT_CHANNELS,
                         layers_per_block=m["num_res_blocks"], norm_num_groups=m["groups"],
                         sample_size=m["resolution"], block_out_channels=tuple(m["ch"] * c for c in m["ch_mult"]),
                         down_block_types=down, up_block_types=up)


def ldm_name(diffusers_name, levels):
    """The ldm state-dict name of a diffusers AutoencoderKL parameter."""
    n = diffusers_name
    n = re.sub(r"^decoder\.up_blocks\.(\d+)\.", lambda g: f"decoder.up.{levels - 1 - int(g[1])}.", n)
    n = re.sub(r"^encoder\.down_blocks\.(\d+)\.", r"encoder.down.\1.", n)
    n = re.sub(r"\.mid_block\.resnets\.(\d+)\.", lambda g: f".mid.block_{int(g[1]) + 1}.", n)
    n = n.replace(".mid_block.attentions.0.", ".mid.attn_1.")
    n = re.sub(r"\.(up|down)\.(\d+)\.resnets\.", r".\1.\2.block.", n)
    n = re.sub(r"\.(up|down)\.(\d+)\.attentions\.", r".\1.\2.attn.", n)
    n = n.replace(".upsamplers.0.", ".upsample.").replace(".downsamplers.0.", ".downsample.")
    n = n.replace(".conv_shortcut.", ".nin_shortcut.").replace(".conv_norm_out.", ".norm_out.")
    n = n.replace(".group_norm.", ".norm.").replace(".to_q.", ".q.").replace(".to_k.", ".k.")
    return n.replace(".to_v.", ".v.").replace(".to_out.0.", ".proj_out.")


def ldm_shaped(diffusers_name, tensor):
    """ldm's attention projections are 1×1 convolutions where diffusers has linear layers."""
    if re.search(r"attentions\.\d+\.(to_q|to_k|to_v|to_out\.0)\.weight$", diffusers_name):
        return tensor[:, :, None, None]
    return tensor


def ldm_layer_modules(model, levels):
    """ldm layer name -> diffusers module, for the layers the analysis observes (norm_out: before its SiLU)."""
    modules = {}
    for name, module in model.named_modules():
        if re.fullmatch(r"(encoder|decoder)\.(conv_in|conv_out|conv_norm_out|mid_block\.(resnets|attentions)\.\d+|"
                        r"(down|up)_blocks\.\d+\.(resnets\.\d+|attentions\.\d+|downsamplers\.0|upsamplers\.0))", name):
            modules[ldm_name(name + ".", levels).rstrip(".")] = module
    # The moments, last of the encoder's layers as the analysis observes them.
    modules["quant_conv"] = model.quant_conv
    return modules


def seeded_weights(m):
    """PyTorch's default initialisation under the model's seed, GroupNorm weights and biases randomised (not 1
    and 0, so that their gradients are tested), rounded to float32. Returns the model in float64."""
    torch.manual_seed(m["seed"])
    model = diffusers_model(m)
    g = torch.Generator().manual_seed(m["seed"] + 1)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.GroupNorm):
                module.weight.copy_(1 + 0.1 * torch.randn(module.weight.shape, generator=g))
                module.bias.copy_(0.1 * torch.randn(module.bias.shape, generator=g))
    return model.float().double().eval()


class Recorder:
    """Forward hooks that keep each observed layer's output, in the order the outputs appear; removed on exit so
    that no later forward overwrites them."""

    def __init__(self, modules):
        self.modules, self.outputs, self.handles = modules, collections.OrderedDict(), []

    def __enter__(self):
        for name, module in self.modules.items():
            self.handles.append(module.register_forward_hook(
                lambda _m, _i, out, name=name: self.outputs.__setitem__(name, out.detach().clone())))
        return self.outputs

    def __exit__(self, *exc):
        for h in self.handles:
            h.remove()


def posterior(model, x):
    """ldm's DiagonalGaussianDistribution: moments, mean, logvar (clamped to [-30, 20])."""
    moments = model.quant_conv(model.encoder(x))
    mean, logvar = torch.chunk(moments, 2, dim=1)
    return moments, mean, torch.clamp(logvar, -30.0, 20.0)


def decode(model, z):
    return model.decoder(model.post_quant_conv(z))


def losses(model, x, eps):
    moments, mean, logvar = posterior(model, x)
    z = mean + torch.exp(0.5 * logvar) * eps
    rec = decode(model, z)
    recon = torch.mean((rec - x) ** 2)
    kl_per_sample = 0.5 * torch.sum(mean ** 2 + torch.exp(logvar) - 1.0 - logvar, dim=[1, 2, 3])
    kl_sum = torch.mean(kl_per_sample)
    tensors = {"moments": moments, "mean": mean, "logvar": logvar, "z": z, "rec": rec}
    return tensors, recon, kl_sum, recon + KL_WEIGHT * kl_sum


def pair_metrics(outputs):
    """ldm's pair metrics between batch items 0 and 1 of every observed layer, in float64."""
    metrics = collections.OrderedDict()
    for name, out in outputs.items():
        a, b = out[0].flatten(), out[1].flatten()
        similarity = float(torch.dot(a, b) / (a.norm() * b.norm()))
        metrics[name] = {"l2_value": float((a - b).norm()), "cosine_similarity": similarity,
                         "cosine_value": 1.0 - similarity, "shape": [1] + list(out.shape[1:])}
    return metrics


TENSOR_SENTENCES = {
    "input": "x, the batch fed to the encoder, in [-1, 1], NCHW",
    "eps": "the standard-normal noise of the reparameterization",
    "moments": "quant_conv(encoder(x)): mean and logvar stacked on the channel axis",
    "mean, logvar": "the halves of moments; logvar clamped to [-30, 20]",
    "z": "mean + exp(0.5*logvar) * eps",
    "rec": "decoder(post_quant_conv(z))",
    "rec_mode": "decoder(post_quant_conv(mean)), the deterministic reconstruction",
    "grad.NAME": "d total_loss / d NAME at the initial weights, total_loss = mse_mean(rec, x) + kl_weight * kl_loss_sum",
    "act.LAYER": "the output of LAYER (one of encoder_layers, ending with quant_conv = moments, or decoder_layers; "
                 "norm_out before its SiLU) at the "
                 "initial weights, while encoding x and decoding post_quant_conv(mean) (the rec_mode decode); batch "
                 "items 0 and 1 are the pair of pair_metrics_item0_vs_item1",
}
ADAM_SENTENCE = ("the parameters after one and two torch.optim.Adam steps from the initial weights (the 2nd gradient "
                 "taken at the new point, same x and eps)")


def run(model, x, eps, m, levels):
    """Everything reference.safetensors and the scalars hold, computed in the model's dtype: the analysed forward
    (act., rec_mode), the training forward and its gradients, and the Adam steps. Returns (tensors, scalars,
    the analysed layer outputs in order)."""
    # The analysed forward: encode x, decode the posterior mean, at the initial weights, hooks only here.
    with torch.no_grad(), Recorder(ldm_layer_modules(model, levels)) as outputs:
        _, mean, _ = posterior(model, x)
        rec_mode = decode(model, mean)
    params = dict(model.named_parameters())
    optimizer = torch.optim.Adam(params.values(), lr=ADAM["lr"], betas=(ADAM["beta1"], ADAM["beta2"]), eps=ADAM["eps"])
    optimizer.zero_grad()
    forward, recon, kl_sum, total = losses(model, x, eps)
    total.backward()
    ref = {"input": x, "eps": eps, "rec_mode": rec_mode, **{k: v.detach() for k, v in forward.items()}}
    ref.update({f"grad.{ldm_name(n, levels)}": ldm_shaped(n, p.grad.detach().clone()) for n, p in params.items()})
    ref.update({f"act.{n}": t for n, t in outputs.items()})
    scalars = {"recon_loss": recon.item(), "kl_loss_sum": kl_sum.item(),
               "kl_loss_mean": kl_sum.item() / (LATENT_CHANNELS * eps.shape[2] * eps.shape[3]),
               "total_loss": total.item()}
    optimizer.step()
    # One step at least, for total_loss_after_adam1; the parameters are stored after `adam_steps` steps.
    for step in range(1, max(m["adam_steps"], 1) + 1):
        if step <= m["adam_steps"]:
            ref.update({f"adam{step}.{ldm_name(n, levels)}": ldm_shaped(n, p.detach().clone()) for n, p in params.items()})
        optimizer.zero_grad()
        _, _, _, total = losses(model, x, eps)
        if step == 1:
            scalars["total_loss_after_adam1"] = total.item()
        total.backward()
        optimizer.step()
    return ref, scalars, outputs


def float32_run(model, x, eps, m, levels):
    """`run` in PyTorch's own float32, same weights, input and eps."""
    return run(copy.deepcopy(model).float(), x.float(), eps.float(), m, levels)


def cpu_name():
    try:
        with open("/proc/cpuinfo") as f:
            return next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        return platform.processor() or platform.machine()


def write_float32_errors(out_dir, model, x, eps, m, levels, ref, scalars, metrics):
    """float32-errors.json: per stored tensor, max |PyTorch float32 − reference| (the reference as stored, in
    float32, as the tests compare), per scalar and pair metric |float32 − float64|. The tests' tolerance of each is
    max(its fixed bound, 1.5 × this error)."""
    ref32, scalars32, outputs32 = float32_run(model, x, eps, m, levels)
    tensors = {k: float((ref32[k].double() - ref[k].double()).abs().max()) for k in ref}
    metrics32 = pair_metrics(outputs32)
    errors = collections.OrderedDict([
        ("what", "PyTorch float32 against this folder's float64 reference, same weights, input and eps: per tensor "
                 "of reference.safetensors max |float32 - reference as stored|, per scalar of reference.json and "
                 "pair metric |float32 - float64|; the tests allow max(fixed bound, 1.5 x this error)"),
        ("computed_with", {"torch": torch.__version__, "threads": 1, "deterministic_algorithms": True,
                           "cpu": cpu_name()}),
        ("tensors", tensors),
        ("scalars", {k: abs(scalars32[k] - v) for k, v in scalars.items()}),
        ("pair_metrics_item0_vs_item1", {layer: {key: abs(metrics32[layer][key] - v[key])
                                                 for key in ("l2_value", "cosine_value")}
                                         for layer, v in metrics.items()}),
        ("generator", "tools/make_reference_fixtures.py"),
    ])
    with open(os.path.join(out_dir, "float32-errors.json"), "w") as f:
        json.dump(errors, f, indent=1)
        f.write("\n")


def generate(name, m):
    out_dir = os.path.join(FIXTURES, name)
    os.makedirs(out_dir, exist_ok=True)
    model = seeded_weights(m)
    levels = len(m["ch_mult"])
    g = torch.Generator().manual_seed(m["seed"] + 2)
    x = (torch.rand(BATCH, 3, m["height"], m["width"], generator=g) * 2 - 1).float().double()
    latent_shape = (BATCH, LATENT_CHANNELS, m["height"] // 2 ** (levels - 1), m["width"] // 2 ** (levels - 1))
    eps = torch.randn(latent_shape, generator=g).float().double()

    diffusers_weights = {k: v.float().contiguous() for k, v in model.state_dict().items()}
    ldm_weights = {ldm_name(k, levels): ldm_shaped(k, v) for k, v in diffusers_weights.items()}
    save_file(ldm_weights, os.path.join(out_dir, "weights.ldm.safetensors"), metadata={"format": "pt"})
    save_file(diffusers_weights, os.path.join(out_dir, "weights.diffusers.safetensors"), metadata={"format": "pt"})
    if m["float16_weights"]:
        save_file({k: v.half() for k, v in ldm_weights.items()}, os.path.join(out_dir, "weights.ldm-f16.safetensors"),
                  metadata={"format": "pt"})
    with open(os.path.join(out_dir, "config.yaml"), "w") as f:
        f.write(config_yaml(m))

    initial = copy.deepcopy(model)  # run() takes the Adam steps in place
    ref, scalars, outputs = run(model, x, eps, m, levels)
    layer_names = list(outputs)
    boundary = layer_names.index("quant_conv") + 1
    encoder_layers, decoder_layers = layer_names[:boundary], layer_names[boundary:]

    ref = {k: v.float().contiguous() for k, v in ref.items()}
    save_file(ref, os.path.join(out_dir, "reference.safetensors"), metadata={"format": "pt"})

    sentences = dict(TENSOR_SENTENCES)
    if m["adam_steps"]:
        sentences["adam1.NAME, adam2.NAME"] = ADAM_SENTENCE
    scalar_sentences = {
        "recon_loss": "mean over all elements of (rec - x)^2",
        "kl_loss_sum": "batch mean of 0.5*sum(mean^2 + exp(logvar) - 1 - logvar) over latent C,H,W (ldm posterior.kl())",
        "kl_loss_mean": "kl_loss_sum divided by the latent elements of one sample",
        "total_loss": "recon_loss + kl_weight * kl_loss_sum at the initial weights",
        "total_loss_after_adam1": "total_loss after one torch.optim.Adam step from grad. (same x and eps)",
    }
    reference = collections.OrderedDict([
        ("config", {"ddconfig": ddconfig(m), "embed_dim": LATENT_CHANNELS, "norm_num_groups": m["groups"],
                    "groupnorm_eps": GROUPNORM_EPS}),
        ("batch", BATCH), ("height", m["height"]), ("width", m["width"]), ("kl_weight", KL_WEIGHT), ("adam", ADAM),
        ("seed", m["seed"]), ("scalars", scalars),
        ("encoder_layers", encoder_layers), ("decoder_layers", decoder_layers),
        ("pair_metrics_item0_vs_item1", pair_metrics(outputs)),
        ("tensors", sentences), ("losses", scalar_sentences),
        ("computed_in", "float64 (diffusers AutoencoderKL, weights/input/eps rounded to float32 first), stored as float32"),
        ("generator", "tools/make_reference_fixtures.py"),
    ])
    with open(os.path.join(out_dir, "reference.json"), "w") as f:
        json.dump(reference, f, indent=1)
        f.write("\n")
    write_float32_errors(out_dir, initial, x, eps, m, levels, ref, scalars, pair_metrics(outputs))
    sizes = {f: os.path.getsize(os.path.join(out_dir, f)) for f in sorted(os.listdir(out_dir))}
    print(name, sizes, scalars)


if __name__ == "__main__":
    # One thread and deterministic algorithms: a threaded reduction sums in another order from run to run (float64
    # gradients that are analytically zero came out differently at 1e-17), so reruns give the same bytes.
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    for name in sys.argv[1:] or MODELS:
        if name not in MODELS:
            sys.exit(f"unknown model {name!r}; choose from {', '.join(MODELS)}")
        generate(name, MODELS[name])
