"""The AMQP listener's switches: `--amqp-listen off` serves Kafka only; an address given explicitly
that cannot be bound fails the start (exit 1); the default address taken (a RabbitMQ on the box)
is logged and the broker serves Kafka without AMQP."""
import os
import socket
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "compat"))
from broker import Broker, main_wrapper  # noqa: E402


def check(cond, what):
    if not cond:
        raise AssertionError(what)
    print("ok:", what)


def run(binary):
    b = Broker(binary, ["--amqp-listen", "off"]).start()
    try:
        check("amqp listening" not in b.read_log(), "--amqp-listen off: no AMQP listener")
        check(b.stop() == 0, "stops cleanly")
    finally:
        b.cleanup()

    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen(1)
    port = taken.getsockname()[1]
    b = Broker(binary, ["--amqp-listen", "127.0.0.1:%d" % port])
    try:
        try:
            b.start()
            check(False, "an explicit AMQP address in use must fail the start")
        except RuntimeError as e:
            check("exited early with 1" in str(e) and "cannot listen for AMQP" in str(e),
                  "explicit AMQP address in use: start fails with exit code 1")
    finally:
        b.cleanup()

    default = socket.socket()
    default.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        default.bind(("127.0.0.1", 5672))
        default.listen(1)
    except OSError:
        pass  # something else holds 5672 already: the same situation
    b = Broker(binary).start()
    try:
        log = b.read_log()
        check("cannot listen for AMQP on 127.0.0.1:5672" in log and "AMQP is off" in log,
              "default AMQP address taken: logged, Kafka still served")
        check(b.stop() == 0, "stops cleanly")
    finally:
        b.cleanup()
        default.close()
        taken.close()


if __name__ == "__main__":
    main_wrapper(run)
