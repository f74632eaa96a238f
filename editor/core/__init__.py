"""The text core: operational transformation, texts in chunks, diffs and authorship.

Pure Python: nothing here imports Django, Channels or anything outside the standard
library, so the browser's port (``static/editor/ot.js``) and the Python client can
share its laws.
"""
