"""`python -m host_tools config new --ask` on a pseudo-terminal, answered as a person would:
wait for a question, type the answer. The tool runs as the session leader of the terminal,
so getpass really switches echo off."""
import os
import pty
import select
import signal
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class Dialog:
    def __init__(self, *args, cwd=ROOT):
        argv = [sys.executable, "-m", "host_tools", "config", "new"] + list(args)
        self.pid, self.fd = pty.fork()
        if self.pid == 0:          # the child: the tool on the terminal
            os.chdir(cwd)
            os.execv(sys.executable, argv)
        self.out = ""              # everything the terminal showed
        self.seen = 0              # how far expect() has read
        self.code = None

    def _read(self, timeout):
        r, _, _ = select.select([self.fd], [], [], timeout)
        if not r:
            return False
        try:
            data = os.read(self.fd, 4096)
        except OSError:            # the child closed the terminal (it exited)
            data = b""
        if not data:
            raise EOFError
        self.out += data.decode(errors="replace").replace("\r\n", "\n")
        return True

    def expect(self, text, timeout=20):
        """Wait for ``text`` after what was seen so far; returns what came before it."""
        end = time.monotonic() + timeout
        while True:
            i = self.out.find(text, self.seen)
            if i >= 0:
                before = self.out[self.seen:i]
                self.seen = i + len(text)
                return before
            left = end - time.monotonic()
            try:
                if left <= 0 or not self._read(left):
                    raise AssertionError("no %r within %s s; the terminal shows:\n%s" % (text, timeout, self.out[-3000:]))
            except EOFError:
                raise AssertionError("the tool ended before %r; the terminal shows:\n%s" % (text, self.out[-3000:]))

    def send(self, line):
        os.write(self.fd, line.encode() + b"\r")

    def answer(self, steps):
        """``steps``: (text of the question, answer) pairs, in order."""
        for question, text in steps:
            self.expect(question)
            self.send(text)

    def key(self, byte):
        """A control key: b"\\x04" (Ctrl-D, EOF at the start of a line) or b"\\x03" (Ctrl-C)."""
        os.write(self.fd, byte)

    def wait(self, timeout=20):
        """The exit status, once everything it printed is read."""
        end = time.monotonic() + timeout
        while True:
            try:
                self._read(0.2)
            except EOFError:
                break
            if time.monotonic() > end:
                os.kill(self.pid, signal.SIGKILL)
                break
        _, status = os.waitpid(self.pid, 0)
        os.close(self.fd)
        self.code = os.waitstatus_to_exitcode(status)
        return self.code

    def rest(self):
        """What the terminal showed after the last expected text."""
        return self.out[self.seen:]
