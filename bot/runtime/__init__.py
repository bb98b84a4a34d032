"""What keeps the bot running: the durable scheduler, work in flight after an ack, posts made
once, logging set-up and secret redaction, and the linear-time (RE2) patterns that anything from
outside is searched with.
"""
