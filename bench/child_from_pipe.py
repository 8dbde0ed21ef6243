"""Case 4's child: load a checkpoint once, then switch tasks with from_pipe and measure each switch.

    python bench/child_from_pipe.py autopipe|diffusers FOLDER [REPEATS]

Loads FOLDER with the library's AutoPipelineForText2Image (float16), then
REPEATS times goes text2img -> img2img -> inpaint -> text2img with
``AutoPipelineFor*.from_pipe``, timing each call with ``time.perf_counter()``.
The very first switch to each class is reported apart ("first"): it includes
importing that pipeline class's module, which both libraries do lazily.

Prints the class names, then one ``BENCH {json}`` line:

- ``switch_ms``: median of every switch after the first of its class, in ms;
- ``first_ms``: the first switch to img2img (includes importing its module);
- ``extra_mib``: resident memory (VmRSS) with the three new pipelines alive,
  minus before the first switch;
- ``shared_pct``: of every parameter and buffer of the new pipelines' modules,
  the share whose storage (``data_ptr``) is one of the loaded pipeline's;
- ``cast``: how many tensors changed dtype (must be 0).
"""

from __future__ import annotations

import gc
import json
import statistics
import sys
import time


def rss_mib() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return 0.0


def tensors(pipe):
    import torch

    for name, comp in pipe.components.items():
        if isinstance(comp, torch.nn.Module):
            for pname, t in list(comp.named_parameters()) + list(comp.named_buffers()):
                yield f"{name}.{pname}", t


def main() -> int:
    lib, folder = sys.argv[1], sys.argv[2]
    repeats = int(sys.argv[3]) if len(sys.argv) > 3 else 5
    import torch

    if lib == "autopipe":
        from autopipe_core import AutoPipelineForImage2Image as I2I, AutoPipelineForInpainting as INP, AutoPipelineForText2Image as T2I
    else:
        from diffusers import AutoPipelineForImage2Image as I2I, AutoPipelineForInpainting as INP, AutoPipelineForText2Image as T2I

    pipe = T2I.from_pretrained(folder, torch_dtype=torch.float16)
    base = {name: (t.data_ptr(), t.dtype) for name, t in tensors(pipe)}
    storages = {ptr for ptr, _ in base.values()}
    gc.collect()
    before = rss_mib()
    first: dict[str, float] = {}
    later: list[float] = []
    kept = []
    shared = total = cast = 0
    for r in range(repeats):
        current = pipe
        kept = []
        for task, cls in (("img2img", I2I), ("inpaint", INP), ("text2img", T2I)):
            start = time.perf_counter()
            new = cls.from_pipe(current)
            elapsed = time.perf_counter() - start
            if task in first:
                later.append(elapsed)
            else:
                first[task] = elapsed
            kept.append(new)
            current = new
        if r == 0:
            names = [type(p).__name__ for p in kept]
    for new in kept:
        for name, t in tensors(new):
            total += 1
            shared += t.data_ptr() in storages
            cast += name in base and base[name][1] != t.dtype
    gc.collect()
    after = rss_mib()
    print(type(pipe).__name__, *names)
    out = {
        "switch_ms": statistics.median(later) * 1000 if later else first["img2img"] * 1000,
        "first_ms": first["img2img"] * 1000,
        "extra_mib": after - before,
        "shared_pct": 100.0 * shared / total if total else 0.0,
        "cast": cast,
        "tensors": total,
    }
    print("BENCH " + json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
