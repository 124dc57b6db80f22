"""Test helpers shipped with the package: a Kubernetes emulator that fills server-side fields."""
