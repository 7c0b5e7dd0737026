"""Deployment: replicas behind nginx (replicas.py, nginx.conf.template) and Kubernetes."""
