"""The declarations every family plugin writes, as builders: its table rows, its inpainting-only Variant, its hooks.

| builder | gives | replaces |
| --- | --- | --- |
| :func:`rows` | the family's plain :class:`~autopipe_core.specs.PipelineRow` and, with ``pag=``, its PAG row | two ``PipelineRow(...)`` of a dict each |
| :func:`row` | one row, with any modifiers | a ``PipelineRow`` with a task dict |
| :func:`inpainting_only` | the Variant of a UNet that takes latents, mask and masked image (9 input channels) | the same six-line ``Variant`` in SD, SDXL and Kandinsky |
| :func:`lazy_hooks` | hook implementations that import ``"module:function"`` when first asked | a five-line wrapper per hook |

Class references stay ``"module:Class"`` strings ("diffusers:StableDiffusionPipeline"):
nothing here imports a pipeline. Importing this module imports no torch,
diffusers or transformers, and no planning or loading code: a plugin's
``__init__`` may use it at registration.
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
import inspect
import re
import sys
from typing import Any, Callable, Iterable, Mapping

from .. import hookspecs
from ..specs import PipelineRow, Variant
from ..tasks import Task

__all__ = ["PAG", "lazy_hooks", "inpainting_only", "row", "rows"]

#: The modifier of diffusers' perturbed-attention guidance pipelines (``enable_pag=True``).
PAG = "pag"

_TASKS = (Task.TEXT2IMG, Task.IMG2IMG, Task.INPAINT)


def row(
    family: str,
    *,
    text2img: str | None = None,
    img2img: str | None = None,
    inpaint: str | None = None,
    modifiers: Iterable[str] = (),
    missing: Mapping[Any, str] | None = None,
    on_disk: Iterable[str] | None = None,
) -> PipelineRow:
    """One row: with these `modifiers`, these classes ("module:Class") do these tasks; `missing` says why a task left out is.

    A task given no class and no reason in `missing` is simply not in the row
    (the conformance kit then asks you to declare it). Raises ValueError as
    :class:`~autopipe_core.specs.PipelineRow` does (a bad name or class reference).
    """
    classes = {task: ref for task, ref in zip(_TASKS, (text2img, img2img, inpaint)) if ref is not None}
    return PipelineRow(
        family, classes, modifiers=frozenset(modifiers), missing=dict(missing or {}),
        on_disk=None if on_disk is None else frozenset(on_disk),
    )


def rows(
    family: str,
    *,
    text2img: str | None = None,
    img2img: str | None = None,
    inpaint: str | None = None,
    pag: tuple[str | None, str | None, str | None] | Mapping[Any, str] | None = None,
    missing: Mapping[Any, str] | None = None,
) -> list[PipelineRow]:
    """The family's plain row and, with `pag`, its PAG row (modifiers {"pag"}, chosen by ``enable_pag=True``).

    `pag` is the PAG classes in task order, (text2img, img2img, inpaint), None
    where diffusers has none, or a mapping task -> class. A task the PAG row
    lacks is missing there with the plain row's reason if it has one, else
    "diffusers has no PAG <task> pipeline for <family>". Returns [plain] or
    [plain, pag].
    """
    plain = row(family, text2img=text2img, img2img=img2img, inpaint=inpaint, missing=missing)
    if pag is None:
        return [plain]
    if isinstance(pag, Mapping):
        by_task = {Task.parse(t): ref for t, ref in pag.items()}
    else:
        given = () if isinstance(pag, str) else tuple(pag)
        if len(given) != 3:
            raise ValueError(f"pag of {family!r}: give (text2img, img2img, inpaint) classes, None where there is none, not {pag!r}")
        by_task = dict(zip(_TASKS, given))
    gaps = {
        task: plain.missing.get(task, f"diffusers has no PAG {task.value} pipeline for {family}; leave out enable_pag")
        for task in _TASKS if by_task.get(task) is None
    }
    return [plain, row(family, **{t.value: by_task.get(t) for t in _TASKS}, modifiers={PAG}, missing=gaps)]


def inpainting_only(component: str = "unet", channels: int = 9, what: str = "UNet", name: str = "inpainting-only") -> Variant:
    """The Variant of a checkpoint whose `component` takes `channels` input channels (latents, mask and masked image): inpaint only.

    `what` is how the reason names the component ("UNet", "decoder UNet").
    Text2img and img2img are refused before any weight is read, quoting
    "its UNet takes 9 input channels, latents plus mask plus masked image, so
    it needs a mask at every step".
    """
    if isinstance(channels, bool) or not isinstance(channels, int) or channels < 1:
        raise ValueError(f"inpainting_only: channels must be a positive integer, not {channels!r}")
    return Variant(
        name=name,
        component=component,
        key="in_channels",
        value=channels,
        tasks=frozenset({Task.INPAINT}),
        reason=f"its {what} takes {channels} input channels, latents plus mask plus masked image, so it needs a mask at every step",
    )


# --- hooks that import their code when first asked -------------------------------------------------------------

_TARGET = re.compile(r"^\.*[A-Za-z_]\w*(\.[A-Za-z_]\w*)*:[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$")


class _Delegate:
    """Calls "module:attribute" with the hook's arguments its signature names (as pluggy matches a hookimpl's).

    The attribute is looked up at every call, as the hand-written wrapper's
    ``from .loading import plan`` did (so a test may monkeypatch it).
    """

    def __init__(self, hook: str, params: tuple[str, ...], module: str, attribute: str):
        self.hook, self.params, self.module, self.attribute = hook, params, module, attribute
        self.taken: tuple[Callable[..., Any], tuple[str, ...] | None] | None = None  # (function, what it takes), last seen

    @property
    def ref(self) -> str:
        return f"{self.module}:{self.attribute}"

    def _function(self) -> Callable[..., Any]:
        value: Any = sys.modules.get(self.module) or importlib.import_module(self.module)  # the look-up alone, once imported
        for part in self.attribute.split("."):
            value = getattr(value, part)
        if not callable(value):
            raise TypeError(f"{self.ref}, named for the {self.hook} hook, is a {type(value).__name__}, not a function")
        return value

    def _taken_by(self, function: Callable[..., Any]) -> tuple[str, ...] | None:
        """The hook parameters `function` takes, by name (None: all, it has ``**kwargs``); refuses any other it needs."""
        taken: list[str] = []
        for p in inspect.signature(function).parameters.values():
            if p.kind is p.VAR_KEYWORD:
                return None
            if p.kind is p.VAR_POSITIONAL:
                continue
            if p.name in self.params and p.kind is not p.POSITIONAL_ONLY:
                taken.append(p.name)
            elif p.default is p.empty:
                raise TypeError(
                    f"{self.ref} takes {p.name!r}, which the {self.hook} hook does not give by name "
                    f"(it gives {', '.join(self.params) or 'nothing'}): name its parameters after the hook's"
                )
        return tuple(taken)

    def __call__(self, **arguments: Any) -> Any:
        function = self._function()
        taken = self.taken
        if taken is None or taken[0] is not function:  # inspect.signature once per function (30 us; detection asks
            taken = self.taken = (function, self._taken_by(function))  # every plugin for every file of a scan)
        takes = taken[1]
        return function(**(arguments if takes is None else {name: arguments[name] for name in takes}))


def lazy_hooks(package: str, **targets: str | Mapping[str, str]) -> dict[str, Callable[..., Any]]:
    """Hook implementations, one per keyword, that import their code when first asked: ``{hook: function}``.

    Each keyword is a hook's name, each value a ``"module:function"``
    reference, relative to `package` when it starts with a dot
    (``".loading:plan"``); the function may be an attribute path
    (``".loading:ALLOWANCE.footprint"``). The function takes any subset of
    the hook's parameters, by name, as a hook implementation does. Put the
    result in your plugin module's namespace, with ``__package__`` (the same
    as ``__name__`` in a package's ``__init__``; in ``my_package/plugin.py``
    it is ``my_package``)::

        globals().update(lazy_hooks(__package__, autopipe_load_plan=".loading:plan", autopipe_build_tiny=".tiny:build"))

    A plugin with several families whose code differs gives a hook that takes
    a family a mapping instead, family -> reference, ``"*"`` for the others;
    a family with no entry gets None from the hook (nothing to say)::

        lazy_hooks(__name__, autopipe_load_plan={"kandinsky3": ".kandinsky3_loading:plan", "*": ".loading:plan"})

    Each is a plain function named after its hook and decorated with
    ``hookimpl``, exactly what the five-line wrapper it replaces was;
    ``autopipe plugins`` lists it as usual. Its ``target`` says what it calls
    (``"my_package.loading:plan"``; for a mapping ``"family: ref; ..."``): a
    cold ``autopipe resolve FILE`` calls a one-reference ``autopipe_detect``'s
    target itself (autopipe_core.snapshot). Raises ValueError for a name that
    is no hook or a reference that is not "module:function"; the module is
    imported at the first call, and a function that needs a parameter the
    hook does not give is a TypeError then (which the core reports as the
    plugin's error).
    """
    out: dict[str, Callable[..., Any]] = {}
    for hook, target in targets.items():
        if hook not in hookspecs.HOOKS:
            raise ValueError(f"{hook!r} is not a hook; the hooks are {', '.join(hookspecs.HOOKS)}")
        params = _hook_params(hook)
        if isinstance(target, Mapping):
            if "family" not in params:
                raise ValueError(f"{hook} is not asked for a family: give it one reference, not one per family")
            delegate: _Delegate | _ByFamily = _ByFamily({family: _delegate(hook, params, ref, package) for family, ref in target.items()})
        else:
            delegate = _delegate(hook, params, target, package)
        out[hook] = _hook_function(hook, params, delegate, package)
    return out


def _delegate(hook: str, params: tuple[str, ...], target: Any, package: str) -> _Delegate:
    if not isinstance(target, str) or not _TARGET.match(target):
        raise ValueError(f"{hook}: {target!r} is not a reference of the form 'module:function' (or '.module:function')")
    module, _, attribute = target.partition(":")
    module = importlib.util.resolve_name(module, package) if module.startswith(".") else module
    return _Delegate(hook, params, module, attribute)


class _ByFamily:
    """The delegate of the family asked about (``"*"``: any other), or None where there is none."""

    def __init__(self, delegates: Mapping[str, _Delegate]):
        self.delegates = dict(delegates)

    @property
    def ref(self) -> str:
        return "; ".join(f"{family}: {d.ref}" for family, d in self.delegates.items())

    def __call__(self, **arguments: Any) -> Any:
        delegate = self.delegates.get(arguments["family"], self.delegates.get("*"))
        return None if delegate is None else delegate(**arguments)


@functools.lru_cache(maxsize=None)
def _hook_params(hook: str) -> tuple[str, ...]:
    """The hookspec's parameter names, once a process (inspect.signature for each plugin's hooks cost more than the rest)."""
    return tuple(inspect.signature(getattr(hookspecs, hook)).parameters)


@functools.lru_cache(maxsize=None)
def _hook_factory(hook: str, params: tuple[str, ...]) -> Callable[[Any], Callable[..., Any]]:
    """``make(delegate)``, which returns a new function ``hook(<params>)`` calling `delegate`: compiled once a
    process for each hook (every plugin's lazy hooks share it), not once for each plugin and hook."""
    body = ", ".join(f"{p}={p}" for p in params)
    source = f"def make(_delegate):\n    def {hook}({', '.join(params)}):\n        return _delegate({body})\n    return {hook}\n"
    namespace: dict[str, Any] = {}
    exec(compile(source, f"<autopipe lazy hook {hook}>", "exec"), namespace)  # noqa: S102 - the source above, nothing else
    return namespace["make"]


def _hook_function(hook: str, params: tuple[str, ...], delegate: _Delegate | _ByFamily, package: str) -> Callable[..., Any]:
    """A plain function ``hook(<the hook's parameters>)`` that calls `delegate`.

    pluggy matches a hook implementation's arguments by the names in its code
    object, and the core accepts plain functions only on a module, so the
    function is compiled with the hookspec's own parameter names (identifiers
    read from hookspecs.py, never from the caller).
    """
    function = _hook_factory(hook, params)(delegate)
    function.__module__ = package
    function.__qualname__ = hook
    function.__doc__ = f"The {hook} hook: {delegate.ref}, imported when first asked."
    function.target = delegate.ref
    return hookspecs.hookimpl(function)
