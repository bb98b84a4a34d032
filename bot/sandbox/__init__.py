"""The local sandbox: Fireline wired to a Slack workspace emulator and a simulated cluster.

`fireline sandbox` (or `fireline serve` / `make run` with no Slack tokens) runs it; see
`docs/sandbox.md`. `bot.sandbox.world.Sandbox` composes it, `bot.sandbox.page` serves the page,
`bot.sandbox.run` is the command, and `bot.sandbox.doubles` holds the Slack and Kubernetes
API doubles it runs against (which the tests use too; the product never imports them).
"""
