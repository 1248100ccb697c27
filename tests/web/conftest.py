# The browser tests' fixtures (a real `lensforge up`, Chromium) for this folder only.
from tests.web.browser import browser, up_server

__all__ = ["browser", "up_server"]
