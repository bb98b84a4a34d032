"""Guarded remediation: restart, scale, rollback and pod delete, each previewed, approved by a
person the policy names, applied once and verified.
"""
