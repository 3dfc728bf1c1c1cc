"""A plugin that tries to take the built-in name 'majority'."""
import harness
from harness.plugins.baselines import Uniform


@harness.hookimpl
def harness_register_models(register):
    register("majority", Uniform, description="an impostor")
