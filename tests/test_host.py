"""The plugin host: built-ins via entry points, isolation of broken plugins, naming rules."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from importlib import metadata

import pytest

from harness import host
from harness.errors import UsageError


def test_builtins_are_found_through_the_installed_entry_points():
    eps = {ep.name: ep for ep in metadata.entry_points(group="harness")
           if ep.dist is not None and ep.dist.metadata["Name"] == "dfer-harness"}
    assert {"synthetic", "baselines"} <= set(eps)
    h = host.load([])
    builtin = {p.name for p in h.plugins if p.builtin}
    assert {"synthetic", "baselines"} <= builtin
    assert h.entry("task", "synthetic").plugin.dist == "dfer-harness"
    assert {"majority", "prior", "uniform"} <= set(h.models)
    assert h.entry("model", "majority").plugin.version == metadata.version("dfer-harness")
    assert h.problems == []


def test_a_plugin_that_raises_on_import_is_reported_and_the_rest_still_work():
    h = host.load(["broken_plugin"])
    assert any("broken_plugin" in p and "broken on purpose" in p for p in h.problems)
    assert "synthetic" in h.tasks and "majority" in h.models


def test_a_broken_installed_entry_point_is_skipped(tmp_path, monkeypatch):
    dist = tmp_path / "fake_broken-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: fake-broken\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[harness]\nfakebroken = fake_broken_module\n")
    (tmp_path / "fake_broken_module.py").write_text("import does_not_exist_anywhere\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    h = host.load([])
    assert any("fakebroken" in p and "does_not_exist_anywhere" in p for p in h.problems)
    assert "majority" in h.models


def test_a_misspelled_hook_is_caught_by_check_pending():
    h = host.load(["misspelled_plugin"])
    assert any("misspelled_plugin" in p and "harness_register_task" in p for p in h.problems)
    assert "never" not in h.tasks
    assert "misspelled_plugin" not in {p.name for p in h.plugins}


def test_a_duplicate_name_is_refused_naming_both_plugins():
    h = host.load(["rival_majority"])
    assert any("baselines" in p and "rival_majority" in p for p in h.problems)
    with pytest.raises(UsageError, match="baselines.*rival_majority"):
        h.entry("model", "majority")
    # Blocking the rival gives the built-in back.
    h = host.load(["rival_majority", "no:rival_majority"])
    assert h.entry("model", "majority").plugin.name == "baselines"


def test_allow_list_env_var_limits_third_party_plugins():
    everything = host.load([], env={})
    assert "example-folder" in everything.tasks  # the example plugin is installed for the tests
    builtins_only = host.load([], env={"HARNESS_PLUGINS": ""})
    assert "example-folder" not in builtins_only.tasks
    assert "synthetic" in builtins_only.tasks
    allowed = host.load([], env={"HARNESS_PLUGINS": "example"})
    assert "example-folder" in allowed.tasks


def test_blocking_a_plugin_by_name():
    h = host.load(["no:baselines"])
    assert "majority" not in h.models
    assert "synthetic" in h.tasks


def test_unknown_names_suggest_close_matches():
    h = host.load([])
    with pytest.raises(UsageError, match="Did you mean 'synthetic'"):
        h.entry("task", "synthetc")
    with pytest.raises(UsageError, match="'majority'"):
        h.entry("model", "majorty")


def test_listing_imports_nothing_heavy(tmp_path):
    # Stand-ins that explode if anything imports them while listing.
    for name in ("torch", "transformers", "vllm"):
        (tmp_path / f"{name}.py").write_text(f"raise ImportError('{name} was imported while listing')\n")
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    harness_bin = os.path.join(os.path.dirname(sys.executable), "harness")
    for what in ("tasks", "models", "plugins"):
        proc = subprocess.run([harness_bin, "list", what], env=env, capture_output=True, text=True,
                              timeout=60)
        assert proc.returncode == 0, proc.stderr
        assert "warning" not in proc.stderr, proc.stderr
    code = textwrap.dedent("""
        import sys
        from harness import host
        h = host.load([])
        print(sorted(m for m in ("torch", "transformers", "vllm") if m in sys.modules))
    """)
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert proc.stdout.strip() == "[]", proc.stderr
