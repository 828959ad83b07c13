"""What one node publishes on /diagnostics, collected by a test node."""

from diagnostic_msgs.msg import DiagnosticArray
from waiting import wait_for


def values(status):
    return {kv.key: kv.value for kv in status.values}


class DiagnosticsReports:
    """The statuses named ``name`` (``"<node>: <what>"``), in arrival order."""

    def __init__(self, node, name):
        self.name = name
        self.statuses = []
        node.create_subscription(DiagnosticArray, "/diagnostics", self._on_array, 10)

    def _on_array(self, msg):
        self.statuses.extend(s for s in msg.status if s.name == self.name)

    def find(self, condition, start=0):
        """(status, values) of the first status from ``start`` on meeting ``condition(status,
        values)``, or None."""
        return next(((s, values(s)) for s in self.statuses[start:] if condition(s, values(s))),
                    None)

    def next(self, condition, what):
        """Waits for a status arriving from now on that meets ``condition``."""
        start = len(self.statuses)
        wait_for(lambda: self.find(condition, start), what=what)
        return self.find(condition, start)
