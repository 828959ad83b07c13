"""/diagnostics for every node, in the standard diagnostic_msgs form (rqt_robot_monitor, Foxglove).

A node reports one DiagnosticStatus named ``<node>: <what>``, with the robot profile's name as
hardware_id, every ``period_s`` on the steady clock, so a simulated clock that pauses or jumps
never stops the reports. The node's callback says the level, the message and the key/values.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rclpy.clock import Clock, ClockType
from rclpy.node import Node

OK, WARN, ERROR = DiagnosticStatus.OK, DiagnosticStatus.WARN, DiagnosticStatus.ERROR


@dataclass(frozen=True)
class Report:
    level: bytes  # OK, WARN or ERROR
    message: str
    values: dict[str, str]


def worst_of(problems: list[tuple[bytes, str]], ok_message: str,
             values: dict[str, str]) -> Report:
    """The report of a node that checks several things: the level of the worst problem and
    every problem's message, worst first; ``ok_message`` when there is none."""
    if not problems:
        return Report(OK, ok_message, values)
    problems = sorted(problems, key=lambda problem: problem[0], reverse=True)
    return Report(problems[0][0], "; ".join(message for _, message in problems), values)


class Diagnostics:
    """Publishes ``report()`` on /diagnostics every ``period_s`` wall seconds."""

    def __init__(self, node: Node, what: str, hardware_id: str, period_s: float,
                 report: Callable[[], Report]):
        self.node = node
        self.name = f"{node.get_name()}: {what}"
        self.hardware_id = hardware_id
        self.report = report
        self.publisher = node.create_publisher(DiagnosticArray, "/diagnostics", 10)
        node.create_timer(period_s, self.publish, clock=Clock(clock_type=ClockType.STEADY_TIME))

    def publish(self) -> None:
        report = self.report()
        status = DiagnosticStatus(
            level=report.level, name=self.name, message=report.message,
            hardware_id=self.hardware_id,
            values=[KeyValue(key=key, value=value) for key, value in report.values.items()])
        array = DiagnosticArray(status=[status])
        array.header.stamp = self.node.get_clock().now().to_msg()
        self.publisher.publish(array)
