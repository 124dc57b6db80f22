"""Machine-learning core of ActiveLoop. Nothing in this package imports Kubernetes."""
