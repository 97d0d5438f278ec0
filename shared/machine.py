"""What CPU a report was measured on: speed differs by machine (AVX2-only here, AVX-512 and bf16 there)."""

import os
import platform
from pathlib import Path

NOTABLE_FLAGS = ("avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "amx_tile")


def cpu_description() -> dict[str, object]:
    """The CPU's model name, core count and the instruction sets that change our speed."""
    model, flags = platform.processor() or platform.machine(), set()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text(errors="replace").splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name":
                model = value.strip()
            elif key.strip() == "flags":
                flags = set(value.split())
                break
    return {"model": model, "cores": os.cpu_count(), "flags": [flag for flag in NOTABLE_FLAGS if flag in flags]}
