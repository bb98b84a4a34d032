"""Playbooks: one YAML file per common production problem, matched to alerts, run as diagnostics
plus guidance with remediation buttons.
"""
