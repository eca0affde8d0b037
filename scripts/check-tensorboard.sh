#!/usr/bin/env bash
# Checks with TensorBoard's own reader that vae-dist's event files (OUTPUT/tensorboard/) show what metrics.jsonl
# records. Trains the tiny model of Tests/Fixtures/vae-tiny-g8 on `vae-dist synth-data` phantoms at 32 px for two
# epochs with a validation split, then resumes from the first epoch's checkpoint to three (as a run that died after
# epoch 2 and went on from an older checkpoint), and in Python:
#   - EventAccumulator lists the step scalars (train/…), the validation scalars (val/…) and the grids
#     (reconstructions/training); the steps run 1…N once each, as in a run never interrupted (the first attempt's
#     steps past the checkpoint are dropped by the resumed file's session start), with metrics.jsonl's values;
#   - every grid is a PNG whose size is the image's, the last the very file in reconstructions/;
#   - an event file cut inside its last record (a crash mid-write) still loads, without that record;
#   - metrics.jsonl reads with pandas (when present): `time` on every record, validation records by `kind`.
# Needs a Python with the tensorboard package: PYTHON (default python3). Without it it says so and exits 0.
# VAE_DIST=/path/to/vae-dist uses that binary instead of building the release one.
set -euo pipefail
cd "$(dirname "$0")/.."
python="${PYTHON:-python3}"
if ! "$python" -c 'import tensorboard' >/dev/null 2>&1; then
    echo "skipped: no tensorboard package in $python (pip install tensorboard)"
    exit 0
fi
source scripts/lib/vae-dist-run.sh   # bin, work, quiet
tiny=Tests/Fixtures/vae-tiny-g8/config.yaml

quiet synth-data --output "$work/phantoms" --count 10 --pairs 0 --img_size 32 --seed 3
# 10 images, 2 held out: 8 train at batch 4, two steps an epoch.
train() {
    quiet train --train_dir "$work/phantoms/train" --config_path "$tiny" --output_dir "$work/run" --img_size 32 --batch_size 4 \
        --lr 1e-3 --kl_weight 1e-6 --save_interval 1 --num_recon 2 --threads 2 --val_fraction 0.2 "$@"
}
train --epochs 2
train --epochs 3 --resume "$work/run/checkpoints/vae_epoch_1.safetensors"

"$python" - "$work/run" <<'PY'
import glob, json, os, shutil, struct, sys, tempfile

from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

run = sys.argv[1]
failures = []


def check(ok, what):
    print(("ok   " if ok else "FAIL ") + what)
    if not ok:
        failures.append(what)


def load(folder):
    acc = EventAccumulator(folder, size_guidance={"scalars": 0, "images": 0})
    acc.Reload()
    return acc


files = sorted(glob.glob(os.path.join(run, "tensorboard", "events.out.tfevents.*")))
check(len(files) == 2, f"two event files, one per start: {[os.path.basename(f) for f in files]}")
acc = load(os.path.join(run, "tensorboard"))
tags = acc.Tags()
train_tags = ["train/loss", "train/recon_loss", "train/kl_loss", "train/lr", "train/grad_norm", "train/images_per_second",
              "train/comm_wait"]
val_tags = ["val/loss", "val/recon_loss", "val/kl_loss", "val/psnr", "val/ssim"]
check(sorted(tags["scalars"]) == sorted(train_tags + val_tags), f"scalars: {', '.join(sorted(tags['scalars']))}")
check(tags["images"] == ["reconstructions/training"], f"images: {tags['images']}")

records = [json.loads(line) for line in open(os.path.join(run, "metrics.jsonl"))]
steps = [r for r in records if r["kind"] == "step"]
validations = [r for r in records if r["kind"] == "validation"]
check([r["global_step"] for r in steps] == list(range(1, 7)) and [r["epoch"] for r in validations] == [1, 2, 3],
      "metrics.jsonl: steps 1…6 once each and three validation records, the first attempt's epoch 2 dropped")
f32 = lambda x: struct.unpack("<f", struct.pack("<f", x))[0]
for tag in train_tags:
    key = tag.split("/")[1]
    logged = [(e.step, e.value) for e in acc.Scalars(tag)]
    check(logged == [(r["global_step"], f32(r[key])) for r in steps], f"{tag}: steps 1…6 with metrics.jsonl's values")
for tag in val_tags:
    key = "val_" + tag.split("/")[1]
    logged = [(e.step, e.value) for e in acc.Scalars(tag)]
    check(logged == [(r["global_step"], f32(r[key])) for r in validations],
          f"{tag}: at steps {[s for s, _ in logged]} with metrics.jsonl's values")

images = acc.Images("reconstructions/training")
check([i.step for i in images] == [2, 4, 6], f"a grid at each save: steps {[i.step for i in images]}")
for i in images:
    png = i.encoded_image_string
    width, height = struct.unpack(">II", png[16:24])
    check(png[:8] == b"\x89PNG\r\n\x1a\n" and (i.width, i.height) == (width, height), f"step {i.step}: a {width}x{height} PNG")
last = open(os.path.join(run, "reconstructions", "recon_epoch_3.png"), "rb").read()
check(images[-1].encoded_image_string == last, "the last grid is reconstructions/recon_epoch_3.png byte for byte")

# A crash while writing the last record: the file ends inside it.
with tempfile.TemporaryDirectory() as cut:
    data = open(files[-1], "rb").read()
    open(os.path.join(cut, os.path.basename(files[-1])), "wb").write(data[:-7])
    partial = load(cut)
with tempfile.TemporaryDirectory() as single:
    shutil.copy(files[-1], single)
    complete = load(single)
count = lambda a: sum(len(a.Scalars(t)) for t in a.Tags()["scalars"]) + sum(len(a.Images(t)) for t in a.Tags()["images"])
check(0 < count(partial) == count(complete) - 1, f"an event file cut inside its last record loads: {count(partial)} of {count(complete)} summaries")

try:
    import pandas
except ImportError:
    print("(pandas not present: metrics.jsonl not read with it)")
else:
    frame = pandas.read_json(os.path.join(run, "metrics.jsonl"), lines=True)
    times = pandas.to_datetime(frame["time"], utc=True)
    check(times.notna().all() and times.is_monotonic_increasing, "pandas: every record has its time (ISO 8601 UTC), in order")
    check(len(frame[frame.kind == "validation"]) == 3 and frame[frame.kind == "step"]["loss"].notna().all(),
          "pandas: validation records by kind, step records with their losses")

if failures:
    sys.exit(f"{len(failures)} check(s) failed")
print("TensorBoard reads vae-dist's event files: scalars, validation and grids, across a resume")
PY
