"""The web interface and REST API: ``activeloop serve`` on a workstation, ``python -m
activeloop.web`` on a cluster (the Helm chart's UI Deployment)."""
