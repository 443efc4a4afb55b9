"""The mixed-precision settings a suite or `--mixed-precision` may name (accelerate's, plus "auto"),
with what each means; the suite schema, the CLI's choices and `harness list` read them here."""

from harness.core.registry import Registry

PRECISIONS: Registry[str] = Registry("mixed precision")
for _name, _meaning in (
    ("auto", "bf16 or fp16 only where the device computes it natively, else fp32 (harness/execution/hardware.py)"),
    ("no", "fp32 throughout"),
    ("fp16", "float16 autocast with a gradient scaler"),
    ("bf16", "bfloat16 autocast"),
):
    PRECISIONS.register(_name)(_meaning)
