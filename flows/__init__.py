"""Prefect flows and deployments: a thin orchestration layer over the ``sunet`` library."""
