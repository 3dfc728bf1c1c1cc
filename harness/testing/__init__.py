"""Helpers for tests, of this project and of plugins: tiny offline stand-ins for real data."""
