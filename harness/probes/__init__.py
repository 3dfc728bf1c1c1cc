"""Built-in probes, registered through the same hook as a third party's (``harness_register_probes``)."""

import harness


@harness.hookimpl
def harness_register_probes(register):
    from harness.probes.calibration import CalibrationProbe
    from harness.probes.choices import ChoicesProbe
    from harness.probes.longtail import LongTailProbe

    for probe in (LongTailProbe, ChoicesProbe, CalibrationProbe):
        register(probe.name, probe, description=probe.description)
