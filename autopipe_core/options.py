"""The keyword arguments a from_pretrained call can carry, sorted by what they are for.

One place for each kind, so that every module that must tell them apart (the
hub reader, the guard, resolution, from_pipe's warnings) reads the same list.
The lists follow diffusers' ``DiffusionPipeline.from_pretrained`` (0.42.1) and
huggingface_hub's ``hf_hub_download``.
"""

from __future__ import annotations

from typing import Any, Mapping

#: Where a hub repo's files come from: passed to huggingface_hub as they are.
HUB_OPTIONS = ("cache_dir", "revision", "token", "local_files_only", "force_download", "proxies")

#: How weights are read from disk: from_pipe, which reuses loaded components, has no use for them.
LOADING_OPTIONS = frozenset(
    {"torch_dtype", "dtype", "variant", "revision", "cache_dir", "token", "local_files_only", "use_safetensors",
     "device_map", "low_cpu_mem_usage", "force_download", "proxies", "subfolder", "max_memory", "offload_folder",
     "offload_state_dict", "use_onnx", "provider", "sess_options", "provider_options", "quantization_config",
     "disable_mmap", "output_loading_info", "use_flashpack", "load_connected_pipeline", "mirror", "from_flax"}
)

#: The keywords with which a caller says "run this checkpoint's code". Never added by autopipe.
REMOTE_CODE_KWARGS = ("trust_remote_code", "custom_pipeline", "custom_revision")

#: autopipe's own keywords of from_pretrained: taken out before diffusers is called.
AUTOPIPE_OPTIONS = ("placement", "device", "memory", "allow_pickle")


def hub_options(kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """The hub options among `kwargs`."""
    return {k: kwargs[k] for k in HUB_OPTIONS if k in kwargs}
