"""The Discord adapter: discord.py client, threads, buttons, modals and /repbot app commands.

Only this package imports discord; the core sees neutral events and messages.
"""
