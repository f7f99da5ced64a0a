"""Starts and stops a real sluiced for the compatibility tests (ephemeral port, temp data dir)."""
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time


class Broker:
    def __init__(self, binary, extra_args=None, data_dir=None):
        self.binary = binary
        self.extra_args = extra_args or []
        self.own_dir = data_dir is None
        self.data_dir = data_dir or tempfile.mkdtemp(prefix="sluice-compat-")
        self.proc = None
        self.port = None
        self.shard_ports = []  # the shard brokers' ports, by shard; empty with one broker
        self.log_path = os.path.join(self.data_dir, "..", os.path.basename(self.data_dir) + ".log")

    def start(self, timeout_s=30, port=0, shard_ports=None):
        """shard_ports: the ports of the shards' own brokers (default: ephemeral when port is 0)."""
        ready = os.path.join(tempfile.gettempdir(), "sluice-ready-%d-%d" % (os.getpid(), time.monotonic_ns()))
        args = [self.binary, "--listen", "127.0.0.1:%d" % port, "--data-dir", self.data_dir, "--smp", "2",
                "--ready-file", ready, "--metrics-listen", "127.0.0.1:0"] + self.extra_args
        if shard_ports:
            args += ["--set", "sluice.kafka.shard.ports=" + ",".join(str(p) for p in shard_ports)]
        self.log = open(self.log_path, "ab")
        self.log_start = self.log.tell()
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("sluiced exited early with %s; log:\n%s" % (self.proc.returncode, self.read_log()))
            if os.path.exists(ready):
                with open(ready) as f:
                    text = f.read().strip()
                if text:
                    self.port = int(text)
                    os.unlink(ready)
                    self.shard_ports = self._logged_shard_ports()
                    return self
            time.sleep(0.02)
        raise RuntimeError("sluiced did not become ready; log:\n" + self.read_log())

    def metrics_port(self):
        """The ephemeral port of the /metrics endpoint, from the start-up line that names it."""
        m = re.findall(r"metrics on http://[^:]+:(\d+)/metrics", self.read_log())
        if not m:
            raise RuntimeError("no metrics line in the log:\n" + self.read_log())
        return int(m[-1])

    @property
    def bootstrap(self):
        return "127.0.0.1:%d" % self.port

    def _logged_shard_ports(self):
        """The shard brokers' ports, from this start's "shard brokers:" line (empty: one broker)."""
        with open(self.log_path, "rb") as f:
            f.seek(self.log_start)
            text = f.read().decode(errors="replace")
        lines = [line for line in text.splitlines() if "shard brokers:" in line]
        if not lines:
            return []
        found = re.findall(r"node (\d+) at \S+:(\d+) \(shard (\d+)\)", lines[-1])
        return [int(port) for _, port, _ in sorted(found, key=lambda m: int(m[2]))]

    def stats(self):
        """Per-shard counters from the stats lines of the last stop: {shard: {name: value}}."""
        with open(self.log_path, "rb") as f:
            f.seek(self.log_start)
            text = f.read().decode(errors="replace")
        out = {}
        for m in re.finditer(r"shard (\d+) stats: cross-shard messages sent (\d+) received (\d+)", text):
            out[int(m.group(1))] = {"sent": int(m.group(2)), "received": int(m.group(3))}
        return out

    def read_log(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode(errors="replace")[-4000:]
        except OSError:
            return ""

    def stop(self, sig=signal.SIGTERM, timeout_s=30):
        if not self.proc:
            return 0
        self.proc.send_signal(sig)
        try:
            rc = self.proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            stacks = self.thread_stacks()
            self.proc.kill()
            self.proc.wait()
            raise RuntimeError("sluiced did not stop within %ss; log:\n%s\nthreads:\n%s" %
                               (timeout_s, self.read_log(), stacks))
        self.proc = None
        self.log.close()
        return rc

    def thread_stacks(self):
        """Every thread's stack (gdb, if installed): a hung stop is diagnosed from the CI log alone."""
        if not shutil.which("gdb"):
            return "(no gdb)"
        try:
            out = subprocess.run(["gdb", "-p", str(self.proc.pid), "-batch", "-ex", "thread apply all bt"],
                                 capture_output=True, timeout=60)
            return out.stdout.decode(errors="replace")[-12000:]
        except (OSError, subprocess.SubprocessError) as e:
            return "(gdb failed: %s)" % e

    def restart(self, sig, same_port=False):
        """same_port: clients keep their bootstrap address across the restart."""
        port = self.port if same_port else 0
        shard_ports = self.shard_ports if same_port else None  # the shard brokers keep theirs too
        rc = self.stop(sig)
        if sig == signal.SIGTERM and rc != 0:
            raise RuntimeError("sluiced exited %d on SIGTERM; log:\n%s" % (rc, self.read_log()))
        return self.start(port=port, shard_ports=shard_ports)

    def cleanup(self):
        if self.proc:
            self.stop(signal.SIGKILL)
        if self.own_dir:
            shutil.rmtree(self.data_dir, ignore_errors=True)
            try:
                os.unlink(self.log_path)
            except OSError:
                pass


def main_wrapper(fn):
    """Runs fn(broker_binary) and exits 0/1 with a readable failure."""
    binary = sys.argv[1]
    try:
        fn(binary)
    except Exception as e:  # noqa: BLE001 - a test harness reports everything
        import traceback
        traceback.print_exc()
        print("FAILED:", e)
        sys.exit(1)
    print("PASSED")
