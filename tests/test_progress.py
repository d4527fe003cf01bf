"""Progress bars are drawn on a terminal and never written into a log, pipe or CI transcript."""
from __future__ import annotations

import fcntl
import io
import os
import pty
import struct
import subprocess
import sys
import termios
from pathlib import Path

from inspection.progress import is_terminal, progress_bar

INSPECTION = str(Path(sys.executable).with_name("inspection"))


class FakeTerminal(io.StringIO):
    """A text stream that says it is a terminal, to see what a bar would draw there."""

    def isatty(self) -> bool:
        super().isatty()  # raises on a closed stream, as a real one does
        return True


def _count(stream: io.StringIO, enabled: bool = True) -> str:
    for _ in progress_bar(range(5), file=stream, enabled=enabled, desc="count", mininterval=0):
        pass
    return stream.getvalue()


def test_bar_draws_on_a_terminal() -> None:
    drawn = _count(FakeTerminal())
    assert "\r" in drawn and "count" in drawn and "5/5" in drawn


def test_bar_is_silent_off_a_terminal_or_when_disabled() -> None:
    assert _count(io.StringIO()) == ""
    assert _count(FakeTerminal(), enabled=False) == ""


def test_closed_or_bare_streams_are_not_terminals() -> None:
    closed = FakeTerminal()
    closed.close()
    assert not is_terminal(closed)
    assert not is_terminal(object())  # type: ignore[arg-type]


def _sim_tactile(out: Path) -> list[str]:
    return [INSPECTION, "sim", "tactile", "--frames", "3", "--seed", "1", "--out", str(out)]


def test_cli_writes_no_carriage_returns_into_a_pipe(tmp_path: Path) -> None:
    result = subprocess.run(_sim_tactile(tmp_path / "piped"), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            timeout=120, check=False)
    assert result.returncode == 0, result.stdout.decode(errors="replace")
    assert b"wrote 3 defects frames" in result.stdout
    assert b"\r" not in result.stdout


def test_cli_draws_its_bar_on_a_terminal(tmp_path: Path) -> None:
    """The same command on a pseudo-terminal does draw: the pipe test above is not silent by accident."""
    primary, secondary = pty.openpty()
    fcntl.ioctl(secondary, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))  # a 0-column tty draws nothing
    try:
        result = subprocess.run(_sim_tactile(tmp_path / "tty"), stdout=subprocess.PIPE, stderr=secondary,
                                timeout=120, check=False)
    finally:
        os.close(secondary)
    drawn = b""
    while True:
        try:
            chunk = os.read(primary, 65536)
        except OSError:  # EIO once the terminal is drained and its other end closed
            break
        if not chunk:
            break
        drawn += chunk
    os.close(primary)
    assert result.returncode == 0
    assert b"\rtactile frames:" in drawn and b"3/3" in drawn
