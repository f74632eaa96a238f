"""The documents domain: commits, reads, roles and sessions, history, errors.

It works on the models (``editor.models``) through services (writes) and selectors
(reads), and never imports Channels, daphne or the real-time layer.
"""
