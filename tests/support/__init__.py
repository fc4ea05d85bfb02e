"""Test support, imported by tests, bench and scripts/demo: real registries, a
fault-injecting proxy, a stage publisher, throw-away git repositories."""
