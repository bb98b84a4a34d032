"""The router: `/incident …` text parsed into a `Command`, and each subcommand, button and form
sent to the feature that does it.
"""
