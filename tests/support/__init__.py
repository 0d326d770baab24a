"""Test support: helpers the tests share, never imported by the installed packages."""
