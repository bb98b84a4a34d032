"""The clients of the systems Fireline talks to: Slack, Kubernetes, Prometheus, PostgreSQL,
HTTP health checks and Alertmanager. Each third-party client is imported here and nowhere else.
"""
