"""Guarded diagnostics: read-only actions (pods, logs, events, diagnose, query, health, db…) run
under the policy, bounded, audited and fitted into Slack.
"""
