"""sarama 1.22 (Go, Debian golang-github-shopify-sarama-dev) against sluiced, unchanged: builds
sarama/main.go offline in GOPATH mode against /usr/share/gocode (no module downloads), then runs
it with the given Kafka version: admin, sync producer with acks=all, a two-member consumer group
that commits, committed offsets read back. Exit 77 (skipped) only when Go or sarama is absent.

Usage: sarama_test.py SLUICED BUILD_DIR KAFKA_VERSION"""
import os
import shutil
import subprocess
import sys

from broker import Broker, main_wrapper

GOPATH = "/usr/share/gocode"
SARAMA = os.path.join(GOPATH, "src/github.com/Shopify/sarama")
HERE = os.path.dirname(os.path.abspath(__file__))


def build(build_dir):
    out = os.path.join(build_dir, "sarama_client")
    env = dict(os.environ, GO111MODULE="off", GOPATH=GOPATH, GOFLAGS="", GOPROXY="off",
               GOCACHE=os.path.join(build_dir, "gocache"),
               CGO_CFLAGS="-O2 -g -Wno-deprecated-declarations")
    subprocess.run(["go", "build", "-o", out, "."], cwd=os.path.join(HERE, "sarama"), env=env, check=True,
                   timeout=600)
    return out


def run(binary, build_dir, version):
    client = build(build_dir)
    broker = Broker(binary).start()
    try:
        r = subprocess.run([client, broker.bootstrap, version], timeout=240)
        assert r.returncode == 0, "sarama client (Version %s) exited %d" % (version, r.returncode)
        log = broker.read_log()
        assert "closing connection" not in log, log
    finally:
        broker.cleanup()


if __name__ == "__main__":
    if shutil.which("go") is None or not os.path.isdir(SARAMA):
        print("SKIPPED: Go (golang-go) or sarama (golang-github-shopify-sarama-dev) is not installed")
        sys.exit(77)
    build_dir, version = sys.argv[2], sys.argv[3]
    os.makedirs(build_dir, exist_ok=True)
    main_wrapper(lambda binary: run(binary, build_dir, version))
