"""The policy file: who may run which action against what, where alerts go, and what may change
in a cluster. Validated once at start-up; read-only after.
"""
