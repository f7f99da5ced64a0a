"""Drives kafkajs_group_test.js, one scenario per ctest (argv[2]): classic, split, restart,
replay, admin. The broker runs with a short minimum session timeout so a killed member expires
in seconds."""
import os
import signal
import subprocess
import sys

from broker import Broker, main_wrapper

HERE = os.path.dirname(os.path.abspath(__file__))
BROKER_ARGS = ["--set", "group.min.session.timeout.ms=1000", "--set", "group.initial.rebalance.delay.ms=300"]


def node(bootstrap, scenario):
    subprocess.run(["node", os.path.join(HERE, "kafkajs_group_test.js"), bootstrap, scenario],
                   check=True, timeout=120, cwd=HERE)


def run(binary):
    scenario = sys.argv[2]
    if not os.path.isdir(os.path.join(HERE, "node_modules", "kafkajs")):
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], check=True, cwd=HERE, timeout=300)
    b = Broker(binary, BROKER_ARGS).start()
    try:
        if scenario == "restart":
            node(b.bootstrap, "commit1")
            b.restart(signal.SIGTERM)
            node(b.bootstrap, "check1")
            b.restart(signal.SIGKILL)
            node(b.bootstrap, "check2")
        else:
            node(b.bootstrap, scenario)
        rc = b.stop(signal.SIGTERM)
        assert rc == 0, "sluiced exited %d on SIGTERM; log:\n%s" % (rc, b.read_log())
    finally:
        b.cleanup()


if __name__ == "__main__":
    main_wrapper(run)
