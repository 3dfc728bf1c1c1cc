"""Built-in probes, registered through the same hook as a third party's (``harness_register_probes``).

Registration imports nothing: a probe's module (and scipy, matplotlib) loads
when ``harness diagnose`` builds it, so ``harness list`` stays instant.
"""

import importlib

import harness

# name -> (module, class, description)
BUILTIN = {
    "longtail": ("harness.probes.longtail", "LongTailProbe",
                 "long-tail collapse: recall vs training share, head/medium/tail UAR, collapse rate, "
                 "class-balanced UAR, logit adjustment (score mode)"),
    "choices": ("harness.probes.choices", "ChoicesProbe",
                "answer-option order: UAR spread over N permutations, answers that change, position bias"),
    "calibration": ("harness.probes.calibration", "CalibrationProbe",
                    "confidence calibration (score mode): ECE, Brier, per-class ECE, reliability diagram, "
                    "cross-fitted temperature scaling, ECE with bootstrap intervals"),
    "temporal": ("harness.probes.temporal", "TemporalProbe",
                 "frame-rate and frame-count sweeps, frame order, single frame, apex coverage of micro-expressions"),
    "modality": ("harness.probes.modality", "ModalityProbe",
                 "audio on vs off, paired: UAR/WAR differences (stratified paired bootstrap, McNemar), per class where "
                 "sound helps, hurts or does not matter, per sound cue"),
}


def _factory(module: str, cls: str):
    def make(params):
        return getattr(importlib.import_module(module), cls)(params)
    return make


@harness.hookimpl
def harness_register_probes(register):
    for name, (module, cls, description) in BUILTIN.items():
        register(name, _factory(module, cls), description=description)
