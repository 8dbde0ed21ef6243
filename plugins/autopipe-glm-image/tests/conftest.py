autopipe_plugins = "autopipe-glm-image"

# GlmImagePipeline draws 261 prior tokens one at a time even at 64x64 (a 16 x 16 preview grid first): each step is a
# handful of tiny attention calls, which torch's intra-op threads make about six times slower on a shared two-core
# machine (measured here: 5.2 s against 0.84 s a call). One thread keeps this suite's calls about a second each.
import torch  # noqa: E402

torch.set_num_threads(1)
