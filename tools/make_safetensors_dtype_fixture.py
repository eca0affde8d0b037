"""Writes Tests/Fixtures/safetensors-dtypes/: one tensor of every dtype the safetensors library writes,
saved by the reference implementation, plus the float values the reader must produce.

Needs: pip install torch (the CPU wheel from PyPI or https://download.pytorch.org/whl/cpu), pip install safetensors
Run from the repository root: python tools/make_safetensors_dtype_fixture.py
"""
import json
import os

import torch
from safetensors.torch import save_file

out = "Tests/Fixtures/safetensors-dtypes"
os.makedirs(out, exist_ok=True)

floats = torch.tensor([[1.5, -2.0, 0.1], [65504.0, 1e-3, -0.0]], dtype=torch.float64)
tensors = {
    # SD checkpoints carry these beside the weights.
    "cond_stage_model.transformer.text_model.embeddings.position_ids": torch.arange(5, dtype=torch.int64).reshape(1, 5),
    "model_ema.num_updates": torch.tensor(1234, dtype=torch.int32),
    "bool": torch.tensor([True, False, True]),
    "u8": torch.tensor([0, 255], dtype=torch.uint8),
    "i8": torch.tensor([-128, 127], dtype=torch.int8),
    "i16": torch.tensor([-3], dtype=torch.int16),
    "u16": torch.tensor([3], dtype=torch.uint16),
    "u32": torch.tensor([7], dtype=torch.uint32),
    "u64": torch.tensor([9], dtype=torch.uint64),
    "f8_e4m3": floats.to(torch.float8_e4m3fn),
    "f8_e5m2": floats.to(torch.float8_e5m2),
    "f8_e8m0": torch.tensor([1.0, 4.0]).to(torch.float8_e8m0fnu),
    "c64": torch.tensor([1 + 2j], dtype=torch.complex64),
    "empty": torch.zeros(0, 3, dtype=torch.float32),
    "f16": floats.to(torch.float16),
    "bf16": floats.to(torch.bfloat16),
    "f32": floats.to(torch.float32),
    "f64": floats,
}
save_file(tensors, f"{out}/all-dtypes.safetensors", metadata={"format": "pt"})

# What a reader converting F16/BF16/F32/F64 to float32 must give (exact: each value is representable).
expected = {name: {"shape": list(t.shape), "values": t.to(torch.float32).flatten().tolist()}
            for name, t in tensors.items() if t.dtype in (torch.float16, torch.bfloat16, torch.float32, torch.float64)}
dtypes = {name: str(t.dtype) for name, t in tensors.items()}
with open(f"{out}/expected.json", "w") as f:
    json.dump({"float_tensors": expected, "torch_dtypes": dtypes}, f, indent=1, sort_keys=True)
