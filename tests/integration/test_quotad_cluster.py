"""titan-quotad as a cluster: two Dovecot instances (two datacentres), each with its own
quotad node, sharing one MariaDB, see one usage; and a quotad killed with SIGKILL in the
middle of a burst of commits loses none it acknowledged.
"""
import random
import signal
import threading
import time
import unittest

from test_quotad_stack import DictClient, QuotaStack

STACK = None
DC_USER = ("dc@example.test", "dc-pw")
BURST_USER = "burst@example.test"
LMTP_USER = ("lmtp@example.test", "lmtp-pw")


def message(subject, size):
    body = ("y" * 70 + "\n") * max(1, size // 71)
    return "From: sender@example.org\nSubject: %s\n\n%s" % (subject, body)


def setUpModule():
    global STACK
    STACK = QuotaStack(nodes=2, with_postfix=False).start()
    STACK.ctl("domain", "add", "example.test")
    STACK.add_user(DC_USER[0], DC_USER[1], "--quota", "10M", "--quota-messages", "1000")
    STACK.add_user(BURST_USER, "burst-pw", "--quota", "1G")
    STACK.add_user(LMTP_USER[0], LMTP_USER[1], "--quota", "100M")


def tearDownModule():
    if STACK is not None:
        STACK.stop()


class TwoDatacentres(unittest.TestCase):
    def test_two_dovecot_instances_share_one_usage(self):
        code, text = STACK.lmtp_deliver(0, DC_USER[0], message("dc1", 2000))
        self.assertEqual(code, 250, text)
        code, text = STACK.lmtp_deliver(1, DC_USER[0], message("dc2", 3000))
        self.assertEqual(code, 250, text)
        # Concurrent deliveries in both datacentres, through both quotad nodes.
        results = []

        def burst(node, n):
            for i in range(n):
                results.append(STACK.lmtp_deliver(node, DC_USER[0], message("burst %d-%d" % (node, i), 700 + 97 * i))[0])

        threads = [threading.Thread(target=burst, args=(node, 8)) for node in (0, 1)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        self.assertEqual(results, [250] * 16)
        b0, c0 = STACK.maildir_bytes(0, DC_USER[0])
        b1, c1 = STACK.maildir_bytes(1, DC_USER[0])
        self.assertEqual((c0, c1), (9, 9))
        # No replication in this test: the shared usage is the sum of both stores.
        self.assertEqual(STACK.usage(DC_USER[0]), (b0 + b1, c0 + c1))
        q0 = STACK.getquotaroot(0, *DC_USER)
        q1 = STACK.getquotaroot(1, *DC_USER)
        self.assertEqual(q0, q1)
        self.assertEqual(q0[0], (b0 + b1 + 1023) // 1024)
        self.assertEqual(q0[2], 18)


class KillDuringBurst(unittest.TestCase):
    def test_sigkill_loses_no_acknowledged_increment(self):
        node = STACK.quotads[0]
        c = DictClient(node.dict_socket)
        self.assertEqual(c.set(BURST_USER, 1000, 10)[0], "O")
        c.close()
        lock = threading.Lock()
        acked = {"bytes": 0, "messages": 0, "count": 0, "after_restart": 0}
        unknown = {"bytes": 0, "messages": 0}
        stop = threading.Event()
        restarted = threading.Event()
        errors = []

        def worker(seed):
            rnd = random.Random(seed)
            client = None
            deadline = time.time() + 30
            while not stop.is_set() and time.time() < deadline:
                if client is None:
                    try:
                        client = DictClient(node.dict_socket, timeout=5)
                    except OSError:
                        time.sleep(0.01)  # quotad is down: Dovecot would fail this delivery's update
                        continue
                size = rnd.randint(1, 50000)
                try:
                    reply = client.increment(BURST_USER, size, 1)
                except (OSError, ConnectionError):
                    # Sent, never acknowledged: it may or may not have been applied.
                    with lock:
                        unknown["bytes"] += size
                        unknown["messages"] += 1
                    client.close()
                    client = None
                    continue
                with lock:
                    if reply.startswith("O"):
                        acked["bytes"] += size
                        acked["messages"] += 1
                        acked["count"] += 1
                        if restarted.is_set():
                            acked["after_restart"] += 1
                    elif reply[:1] in ("F", "W"):
                        unknown["bytes"] += size  # not acknowledged: only bounds the total
                        unknown["messages"] += 1
                    else:
                        errors.append(reply)
            if client is not None:
                client.close()

        threads = [threading.Thread(target=worker, args=(i,)) for i in range(6)]
        for t in threads:
            t.start()
        self.assertTrue(STACK.wait_for(lambda: acked["count"] >= 200, timeout=20), acked)
        before_kill = acked["count"]
        node.kill(signal.SIGKILL)
        time.sleep(0.3)
        node.start()
        restarted.set()
        self.assertTrue(STACK.wait_for(lambda: acked["after_restart"] >= 100, timeout=20), acked)
        stop.set()
        for t in threads:
            t.join(timeout=30)
        self.assertEqual(errors, [])
        self.assertGreater(before_kill, 0)
        stored = STACK.usage(BURST_USER)
        # Every acknowledged increment is in the database; at most the unacknowledged ones
        # on top (a commit that reached COMMIT just before the kill).
        self.assertGreaterEqual(stored[0], 1000 + acked["bytes"])
        self.assertLessEqual(stored[0], 1000 + acked["bytes"] + unknown["bytes"])
        self.assertGreaterEqual(stored[1], 10 + acked["messages"])
        self.assertLessEqual(stored[1], 10 + acked["messages"] + unknown["messages"])

    def test_sigkill_during_an_lmtp_burst(self):
        """Dovecot keeps delivering while quotad is down (its quota update fails and it
        copies the mail anyway); no message is lost, usage is never counted twice, and a
        recount makes it exact again."""
        node = STACK.quotads[1]
        codes = []
        stop = threading.Event()

        def deliver():
            i = 0
            while not stop.is_set() and i < 200:
                codes.append(STACK.lmtp_deliver(1, LMTP_USER[0], message("lmtp %d" % i, 900))[0])
                i += 1

        t = threading.Thread(target=deliver)
        t.start()
        self.assertTrue(STACK.wait_for(lambda: len(codes) >= 10, timeout=20))
        node.kill(signal.SIGKILL)
        time.sleep(0.3)
        node.start()
        self.assertTrue(STACK.wait_for(lambda: len(codes) >= 40, timeout=30))
        stop.set()
        t.join(timeout=60)
        delivered = codes.count(250)
        on_disk, count = STACK.maildir_bytes(1, LMTP_USER[0])
        self.assertEqual(count, delivered)
        self.assertTrue(all(c == 250 or 400 <= c < 500 for c in codes), codes)
        stored = STACK.usage(LMTP_USER[0])
        if stored is not None and stored[0] is not None:
            self.assertLessEqual(stored[0], on_disk)
            self.assertLessEqual(stored[1], count)
        STACK.ctl("quota", "recalc", LMTP_USER[0], "--dovecot-config", STACK.dovecots[1]["DOVECOT_CONF"])
        self.assertEqual(STACK.usage(LMTP_USER[0]), (on_disk, count))


if __name__ == "__main__":
    unittest.main()
