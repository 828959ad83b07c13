"""Polling helper for tests that wait on another thread or process."""

import time


def wait_for(condition, timeout=15.0, what="condition"):
    """Polls ``condition`` until true; fails the test naming ``what`` after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)
