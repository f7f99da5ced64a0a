"""Drives kafkajs_txn_test.js: kafkajs transactions (commit, abort, sendOffsets) against sluiced."""
import os
import subprocess

from broker import Broker, main_wrapper

HERE = os.path.dirname(os.path.abspath(__file__))


def run(binary):
    if not os.path.isdir(os.path.join(HERE, "node_modules", "kafkajs")):
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], check=True, cwd=HERE, timeout=300)
    b = Broker(binary).start()
    try:
        subprocess.run(["node", os.path.join(HERE, "kafkajs_txn_test.js"), b.bootstrap], check=True, timeout=120,
                       cwd=HERE)
    finally:
        b.cleanup()


if __name__ == "__main__":
    main_wrapper(run)
