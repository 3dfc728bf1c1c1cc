"""Launchers that place shards of a run on other machines."""
