"""What the test processes (pytest and the servers it starts) need of the environment.

Loaded as a plugin (``-p tests.environment`` in pyproject.toml), before pytest-django
reads the settings: debug is off unless asked for, and outside debug the settings
refuse to load without a secret key. The servers the tests start inherit this.
"""

import os

os.environ.setdefault("DJANGO_DEBUG", "1")
