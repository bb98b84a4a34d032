"""Alertmanager notifications as Slack threads: the webhook's payload, the durable inbox, one
thread per alert group, the per-channel outbox, storm digests, playbooks on first firing.
"""
