"""Built-in probes, registered through the same hook as a third party's (``harness_register_probes``)."""

import harness


@harness.hookimpl
def harness_register_probes(register):
    from harness.probes.calibration import CalibrationProbe
    from harness.probes.choices import ChoicesProbe
    from harness.probes.longtail import LongTailProbe
    from harness.probes.temporal import TemporalProbe

    for probe in (LongTailProbe, ChoicesProbe, CalibrationProbe, TemporalProbe):
        register(probe.name, probe, description=probe.description)
