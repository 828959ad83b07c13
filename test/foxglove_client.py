"""A minimal client of the Foxglove WebSocket protocol, on a plain socket (no client library).

Enough for a test to do what Foxglove does on connecting: read the advertised channels,
subscribe, and receive message data. RFC 6455 framing: the server's frames are unmasked, the
client's masked. The foxglove-sdk server speaks subprotocol ``foxglove.sdk.v1``; a message data
frame is opcode 1, subscription id (uint32), log time (uint64 ns) and the payload, little endian.
"""

from __future__ import annotations

import base64
import json
import os
import socket
import struct
import time

SUBPROTOCOL = "foxglove.sdk.v1"
TEXT, BINARY, CLOSE = 0x1, 0x2, 0x8
MESSAGE_DATA = 0x01


class FoxgloveClient:
    def __init__(self, port: int, host: str = "127.0.0.1", timeout: float = 10.0):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall((f"GET / HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
                           f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                           f"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: {SUBPROTOCOL}"
                           "\r\n\r\n").encode())
        response = b""
        while not response.endswith(b"\r\n\r\n"):
            response += self._read(1)
        assert response.startswith(b"HTTP/1.1 101"), response.decode(errors="replace")
        self.channels: dict[str, dict] = {}  # topic -> the advertised channel
        self.topics: dict[int, str] = {}  # subscription id -> topic

    def close(self) -> None:
        self.sock.close()

    def wait_for_channels(self, topics: set[str], timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while not topics <= set(self.channels):
            assert time.monotonic() < deadline, (f"channels {sorted(topics - set(self.channels))}"
                                                 f" not advertised (have {sorted(self.channels)})")
            self._receive()

    def subscribe(self, *topics: str) -> None:
        subscriptions = []
        for topic in topics:
            self.topics[len(self.topics) + 1] = topic
            subscriptions.append({"id": len(self.topics), "channelId": self.channels[topic]["id"]})
        self._send_text(json.dumps({"op": "subscribe", "subscriptions": subscriptions}))

    def first_messages(self, timeout: float = 30.0) -> dict[str, tuple[int, bytes]]:
        """The first message of every subscribed channel: topic -> (log time ns, payload)."""
        deadline = time.monotonic() + timeout
        first: dict[str, tuple[int, bytes]] = {}
        while missing := set(self.topics.values()) - set(first):
            assert time.monotonic() < deadline, (f"no message on {sorted(missing)} in {timeout} s"
                                                 f" (got {sorted(first)})")
            received = self._receive()
            if received is not None:
                first.setdefault(received[0], received[1:])
        return first

    def _receive(self) -> tuple[str, int, bytes] | None:
        opcode, payload = self._read_frame()
        if opcode == TEXT:
            message = json.loads(payload)
            if message["op"] == "advertise":
                self.channels.update({c["topic"]: c for c in message["channels"]})
        elif opcode == BINARY and payload[0] == MESSAGE_DATA:
            subscription, log_ns = struct.unpack_from("<IQ", payload, 1)
            return self.topics[subscription], log_ns, payload[13:]
        assert opcode != CLOSE, f"the server closed the connection: {payload!r}"
        return None

    def _read_frame(self) -> tuple[int, bytes]:
        first, second = self._read(2)
        length = second & 0x7F
        if length == 126:
            (length,) = struct.unpack(">H", self._read(2))
        elif length == 127:
            (length,) = struct.unpack(">Q", self._read(8))
        return first & 0x0F, self._read(length)

    def _read(self, n: int) -> bytes:
        data = b""
        while len(data) < n:
            chunk = self.sock.recv(n - len(data))
            assert chunk, "the server closed the socket"
            data += chunk
        return data

    def _send_text(self, text: str) -> None:
        data, mask = text.encode(), os.urandom(4)
        size = (bytes([0x80 | len(data)]) if len(data) < 126
                else bytes([0x80 | 126]) + struct.pack(">H", len(data)))
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(data))
        self.sock.sendall(bytes([0x80 | TEXT]) + size + mask + masked)
