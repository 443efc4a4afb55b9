"""What the training device runs natively, for `mixed_precision = "auto"`.

Reduced precision pays only where the hardware computes in it: on a CPU without bf16
instructions autocast emulates bf16 and trained the study's GANs about 2.4x *slower*
(docs/benchmarks.md, "Mixed precision"). So "auto" picks bf16 or fp16 only where the device
has the instructions for it, fp32 elsewhere, and says why in every run record.
"""

import os
from pathlib import Path

CPU_BF16_FLAGS = ("amx_bf16", "avx512_bf16")  # as /proc/cpuinfo (and `lscpu`) name them


def cpu_flags(cpuinfo: Path = Path("/proc/cpuinfo")) -> set[str]:
    """The CPU's feature flags (Linux); empty where /proc/cpuinfo does not exist."""
    try:
        text = cpuinfo.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return set()
    for line in text.splitlines():
        if line.startswith(("flags", "Features")):
            return set(line.split(":", 1)[1].split())
    return set()


def cpu_precision(flags: set[str]) -> tuple[str, str]:
    """(precision, reason) for training on a CPU with these flags."""
    native = [flag for flag in CPU_BF16_FLAGS if flag in flags]
    if native:
        return "bf16", f"auto: the CPU computes bf16 natively ({', '.join(native)})"
    return "no", "auto: fp32, the CPU has no bf16 instructions (no amx_bf16 or avx512_bf16 flag)"


def gpu_precision(name: str, capability: tuple[int, int], bf16_supported: bool) -> tuple[str, str]:
    """(precision, reason) for training on a CUDA GPU: bf16 from Ampere (8.0) on, fp16 on the
    tensor-core GPUs before it (Volta, Turing), fp32 on older ones."""
    where = f"{name}, compute capability {capability[0]}.{capability[1]}"
    if bf16_supported and capability >= (8, 0):
        return "bf16", f"auto: {where} has bf16 tensor cores"
    if capability >= (7, 0):
        return "fp16", f"auto: {where} has fp16 but no bf16 tensor cores"
    return "no", f"auto: fp32, {where} has no reduced-precision tensor cores"


def auto_precision() -> tuple[str, str]:
    """(precision, reason) for the device this process will train on."""
    import torch

    use_cpu = os.environ.get("ACCELERATE_USE_CPU", "false").lower() in ("1", "true", "yes")
    if torch.cuda.is_available() and not use_cpu:
        return gpu_precision(torch.cuda.get_device_name(0), torch.cuda.get_device_capability(0),
                             torch.cuda.is_bf16_supported())
    return cpu_precision(cpu_flags())
