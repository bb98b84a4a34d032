"""What every action is (a `Params` model, a guard, `execute`, `render`), how its output is fitted
into Slack, and the Kubernetes reading helpers both diagnostics and remediations use.
"""
