"""The embedded runner: campaigns and simulations in-process, with a local artifact directory."""
