"""Drives kafkajs_test.js: produce, SIGTERM restart, consume."""
import os
import signal
import subprocess

from broker import Broker, main_wrapper

HERE = os.path.dirname(os.path.abspath(__file__))


def node(*args):
    subprocess.run(["node", os.path.join(HERE, "kafkajs_test.js")] + list(args), check=True, timeout=120, cwd=HERE)


def run(binary):
    if not os.path.isdir(os.path.join(HERE, "node_modules", "kafkajs")):
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], check=True, cwd=HERE, timeout=300)
    b = Broker(binary).start()
    try:
        node(b.bootstrap, "produce")
        b.restart(signal.SIGTERM)
        node(b.bootstrap, "consume")
    finally:
        b.cleanup()


if __name__ == "__main__":
    main_wrapper(run)
