"""The plugin API of dfer-harness: five hooks, one way to register and build.

A plugin is a module (usually published as a distribution with an entry point
in the ``harness`` group) that implements some of the hooks below with the
``@harness.hookimpl`` decorator. Built-in tasks, models, probes, strategies and
trackers use exactly these hooks. Everything a plugin needs is importable from
``harness`` itself (``from harness import Model, Task, Request, Response,
Param, Context, hookimpl, ...``).

Each hook receives ``register`` and, if it asks for it, ``context``
(:class:`harness.Context`: the cache folder, the data folder, the YAML include
paths of this command)::

    import harness

    @harness.hookimpl
    def harness_register_models(register):
        register("my-model", MyModel, description="Always says 'happy'",
                 params={"threshold": harness.Param(float, "when to say it")})

``register(name, factory, description="", params=None)``:

- ``params`` declares the factory's parameters (``{name: Param(type, help, choices)}``;
  default: the factory's ``PARAMS`` attribute if it is such a dict). Declared
  parameters are checked by the host before the factory runs: an unknown name is
  refused with "did you mean", a value that does not fit the type is refused,
  and the factory receives them converted. Undeclared: the factory checks its own.
- the factory is called as ``factory(params, context)``, or ``factory(params)``
  when it takes one argument. ``params`` is the dict parsed from ``name:k=v,...``
  (tasks, probes, strategies) or ``--model-args k=v,...`` (models).
- the host owns naming: a name that two plugins register is an error naming
  both, and neither is used until one is blocked (``-p no:PLUGIN``).

What each factory returns: a :class:`harness.Task` (samples, classes, frame
protocol, prompts), a :class:`harness.Model` (answers resolved requests in
batches), a :class:`harness.Probe` (the run variants it needs and the figures
it computes from their per-sample rows) or a :class:`harness.Strategy` (builds
each sample's request). What an exception does to a run is listed in
:mod:`harness.errors`.

Registration must be cheap: import heavy libraries (torch, transformers,
vllm) inside the factory, never at module import time, so that
``harness list`` stays fast.
"""

import pluggy

hookspec = pluggy.HookspecMarker("harness")


@hookspec
def harness_register_tasks(register, context):
    """Register task factories: ``register(name, factory, description="", params=None)``."""


@hookspec
def harness_register_models(register, context):
    """Register model factories: ``register(name, factory, description="", params=None)``."""


@hookspec
def harness_register_probes(register, context):
    """Register diagnostic probe factories: ``register(name, factory, description="", params=None)``."""


@hookspec
def harness_register_strategies(register, context):
    """Register request strategies (how a request is built from a sample): ``register(name, factory, ...)``."""


@hookspec
def harness_register_trackers(register, context):
    """Register experiment trackers (where finished runs are also logged, :class:`harness.Tracker`):
    ``register(name, factory, description="", params=None)``."""
