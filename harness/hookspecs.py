"""The plugin API of dfer-harness.

A plugin is a module (usually published as a distribution with an entry point
in the ``harness`` group) that implements some of the hooks below with the
``@harness.hookimpl`` decorator. Built-in tasks and models use exactly these
hooks. Each hook receives a ``register`` callback; calling it contributes
something by name. The host owns naming: registering a name that another
plugin already registered is an error that names both plugins.

Registration must be cheap: import heavy libraries (torch, transformers,
vllm) inside the factory, never at module import time, so that
``harness list`` stays fast.

Example::

    import harness

    @harness.hookimpl
    def harness_register_tasks(register):
        register("my-task", make_my_task, description="My dataset, test split")

    @harness.hookimpl
    def harness_register_models(register):
        register("my-model", make_my_model, description="Always says 'happy'")

``register(name, factory, description="")``:

- a task factory is called as ``factory(params, context)`` where ``params`` is
  the dict parsed from ``name:k=v,...`` and ``context`` a
  :class:`harness.task.TaskContext`; it returns a :class:`harness.task.Task`.
- a model factory is called as ``factory(args)`` where ``args`` is the dict
  parsed from ``--model-args``; it returns a :class:`harness.model.Model`.
- a probe factory is called as ``factory(params)`` where ``params`` is the
  dict parsed from ``--probes name:k=v``; it returns a
  :class:`harness.probe.Probe`, which declares the run variants it needs and
  computes its figures from their per-sample results (``harness diagnose``).
- a strategy factory is called as ``factory(params)`` where ``params`` is the
  dict parsed from ``--strategy name:k=v``; it returns a
  :class:`harness.strategy.Strategy`, which builds each sample's request (the
  built-in ``default`` sends the frames as one video; ``msce`` adds captions).
"""

import pluggy

hookspec = pluggy.HookspecMarker("harness")


@hookspec
def harness_register_tasks(register):
    """Register task factories: ``register(name, factory, description="")``."""


@hookspec
def harness_register_models(register):
    """Register model factories: ``register(name, factory, description="")``."""


@hookspec
def harness_register_probes(register):
    """Register diagnostic probe factories: ``register(name, factory, description="")``."""


@hookspec
def harness_register_strategies(register):
    """Register request strategies (how a request is built from a sample): ``register(name, factory, description="")``."""
