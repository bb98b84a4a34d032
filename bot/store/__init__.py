"""Redis: where Fireline's Redis comes from (a server or an embedded one), every key, and the
atomic operations (Lua, claims, locks) the features build on.
"""
