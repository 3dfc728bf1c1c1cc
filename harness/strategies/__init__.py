"""Built-in request strategies, registered through the same hook as a third party's."""

import harness


@harness.hookimpl
def harness_register_strategies(register):
    from harness.strategies.msce import MSCE
    from harness.strategy import DefaultStrategy

    for strategy in (DefaultStrategy, MSCE):
        register(strategy.name, strategy, description=strategy.description)
