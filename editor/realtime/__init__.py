"""The real-time layer: the WebSocket consumer, the wire format, the per-document hubs
that commit and hand out revisions, the process bus, the watcher and presence.

It depends on the domain (:mod:`editor.domain`); the domain never imports it.
"""
