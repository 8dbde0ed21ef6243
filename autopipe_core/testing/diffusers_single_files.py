"""What diffusers' single-file loading knows of a family, for a plugin that claims no single file to show why.

Read from the installed diffusers: ``CHECKPOINT_KEY_NAMES`` of
``diffusers.loaders.single_file_utils`` (the tensor names its
``from_single_file`` tells model types apart by) and
``SINGLE_FILE_LOADABLE_CLASSES`` of ``diffusers.loaders.single_file_model``
(the model classes it loads from one file). Imports diffusers.
"""

from __future__ import annotations

from typing import Any, Iterable


def check_no_diffusers_single_file(
    word: str, classes: Iterable[str] = (), models: Iterable[str] = (), plugin: Any = None
) -> None:
    """Check that diffusers reads no single file of a family, so that the plugin rightly claims none.

    - no key of ``CHECKPOINT_KEY_NAMES`` contains `word` (compared without case);
    - none of `classes` (names of pipeline or model classes in ``diffusers``) has ``from_single_file``;
    - none of `models` (class names) is in ``SINGLE_FILE_LOADABLE_CLASSES``;
    - `plugin` (the plugin's module), if given, implements no ``autopipe_detect``.

    Raises AssertionError naming the first fact that does not hold, and
    ValueError for an empty `word`.
    """
    import diffusers
    from diffusers.loaders.single_file_model import SINGLE_FILE_LOADABLE_CLASSES
    from diffusers.loaders.single_file_utils import CHECKPOINT_KEY_NAMES

    if not isinstance(word, str) or not word:
        raise ValueError(f"check_no_diffusers_single_file needs the word diffusers' keys would hold, got {word!r}")
    keys = [k for k in CHECKPOINT_KEY_NAMES if word.lower() in k.lower()]
    if keys:
        raise AssertionError(f"diffusers' single-file keys {keys} name {word!r}: diffusers reads such files, so should the plugin")
    loadable = [c for c in classes if hasattr(getattr(diffusers, c), "from_single_file")]
    if loadable:
        raise AssertionError(f"{loadable} have from_single_file: diffusers may load them from one file")
    models = [m for m in models if m in SINGLE_FILE_LOADABLE_CLASSES]
    if models:
        raise AssertionError(f"{models} are in diffusers' SINGLE_FILE_LOADABLE_CLASSES: diffusers loads them from one file")
    if plugin is not None and hasattr(plugin, "autopipe_detect"):
        raise AssertionError(f"{getattr(plugin, '__name__', plugin)} implements autopipe_detect, though diffusers reads no such file")
