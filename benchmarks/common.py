"""What every benchmark prints first: the machine it ran on."""

import os
import platform

FLAGS = ["avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile", "fma"]


def cpu_description():
    """CPU model, core count and the instruction-set flags that decide matmul speed."""
    model, flags = platform.processor() or "unknown", []
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
            if line.startswith("flags"):
                flags = line.split(":", 1)[1].split()
                break
    present = " ".join(f for f in FLAGS if f in flags)
    return f"{model} ({os.cpu_count()} cores); flags: {present}"
