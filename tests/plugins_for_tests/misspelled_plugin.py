"""A plugin whose hook name is misspelled: pluggy's check_pending must catch it."""
import harness


@harness.hookimpl
def harness_register_task(register):  # missing "s"
    register("never", lambda params, context: None)
