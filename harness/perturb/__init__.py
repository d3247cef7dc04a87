"""Deterministic perturbations of case variables, for robustness runs."""
