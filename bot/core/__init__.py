"""The pure core: domain types, policies, risk checks, the order planner, the fill model, the Greeks.

Nothing under ``bot.core`` does I/O, reads a clock or holds global state; the shell passes time in.
"""
