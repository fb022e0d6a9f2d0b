"""The team dashboard: a read-only web surface over what the core already computes.

links.py signs and checks the links, data.py reads what the pages show (no aiohttp), pages.py
renders HTML and SVG, web.py is the aiohttp side, command.py is `/repbot dashboard`.
"""
