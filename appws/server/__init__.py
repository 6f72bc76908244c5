"""The consumer and its parts: reserved message types, handler registry, subscriptions.

Imports the protocol, the channel-layer plumbing, accounts and live sessions; never
the HTTP views, the admin or the management commands.
"""
