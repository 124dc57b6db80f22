"""The lifecycle of campaigns and rounds, as pure functions: one state machine (``machine``) and
the round rules (``rounds``) that the operator and the workstation both run. Nothing here does
I/O; runners observe, decide with these, and execute the actions."""
