"""A boto3 producer and consumer for Tests/deploy/run, and the checker of what they saw.

The producer sends `g<group>:<seq>` to a FIFO queue over the SQS API, round-robin over message groups, one send
at a time, with MessageDeduplicationId `<group>-<seq>`. A send that fails (a node stopped, a leader changing) is
retried with the same deduplication id, at the next endpoint, until it is acknowledged: exactly-once enqueue
means a retried send never makes a second message. The consumer long-polls, records every receipt and deletes
(a failed delete only makes the message come back after its visibility timeout).

Endpoints are re-read from a file each second (the drill adds and removes hosts). When the stop file appears the
producer stops; the consumer drains until every acknowledged message was received or --drain-seconds pass.

The checker: every acknowledged send was received (nothing acknowledged lost); every deduplication id has one
MessageId, the one its acknowledgement gave (no duplicate enqueue); within a group, receipts never go back to an
earlier message (group order: each message's first receipt comes after those of every earlier message of its
group; a redelivery after a failed delete may repeat one). The report (JSON) also gives the longest
pause between two acknowledged sends and the number of retried sends and receives.
"""
import argparse
import json
import os
import sys
import threading
import time

import boto3
from botocore.config import Config


class Endpoints:
    def __init__(self, path):
        self.path, self.list, self.loaded, self.next = path, [], 0.0, 0
        self.lock = threading.Lock()

    def pick(self):
        with self.lock:
            if time.monotonic() - self.loaded > 1 or not self.list:
                try:
                    with open(self.path) as f:
                        self.list = [line.strip() for line in f if line.strip()] or self.list
                except OSError:
                    pass
                self.loaded = time.monotonic()
            self.next += 1
            return self.list[self.next % len(self.list)]


def client(endpoint, args):
    return boto3.client(
        "sqs", endpoint_url=endpoint, region_name="us-east-1", verify=args.ca_bundle or True,
        aws_access_key_id=args.access_key, aws_secret_access_key=args.secret_key,
        config=Config(retries={"max_attempts": 1}, connect_timeout=2, read_timeout=15))


class Clients:
    """One boto3 client per endpoint, made once (making one costs milliseconds)."""

    def __init__(self, args):
        self.args, self.made = args, {}

    def get(self, endpoint):
        if endpoint not in self.made:
            self.made[endpoint] = client(endpoint, self.args)
        return self.made[endpoint]


def produce(args, endpoints, queue_url, stop, record):
    clients = Clients(args)
    seq = 0
    last_ack = None
    interval = 1.0 / args.rate
    while not os.path.exists(args.stop_file) and not stop.is_set():
        group = seq % args.groups
        number = seq // args.groups
        body = f"g{group}:{number}"
        started = time.monotonic()
        attempts = 0
        errors = []
        while True:
            attempts += 1
            endpoint = endpoints.pick()
            try:
                answer = clients.get(endpoint).send_message(
                    QueueUrl=queue_url, MessageBody=body, MessageGroupId=f"g{group}",
                    MessageDeduplicationId=f"g{group}-{number}")
                break
            except Exception as error:  # any failure: retry the same send elsewhere
                record["send_retries"] += 1
                detail = type(error).__name__
                if hasattr(error, "response"):
                    detail += f" {error.response.get('Error', {}).get('Code')}: {error.response.get('Error', {}).get('Message')}"
                errors.append(f"{endpoint}: {detail} after {time.monotonic() - started:.1f} s")
                record["send_errors"][type(error).__name__] = record["send_errors"].get(type(error).__name__, 0) + 1
                if time.monotonic() - started > args.send_give_up:
                    record["given_up"].append(body)
                    answer = None
                    break
                time.sleep(min(0.05 * attempts, 0.5))
        now = time.monotonic()
        if answer is not None:
            record["acked"][body] = answer["MessageId"]
            if last_ack is not None:
                record["longest_pause_s"] = max(record["longest_pause_s"], now - last_ack)
                if now - last_ack > 1:
                    print(f"{time.strftime('%H:%M:%S')} {now - last_ack:.1f} s without an acknowledgement before "
                          f"{body}; this send's failures: {errors}", flush=True)
            last_ack = now
        seq += 1
        time.sleep(max(0.0, interval - (time.monotonic() - started)))
    record["producer_done"] = True


def consume(args, endpoints, queue_url, stop, record):
    clients = Clients(args)
    while not stop.is_set():
        endpoint = endpoints.pick()
        try:
            answer = clients.get(endpoint).receive_message(
                QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1, VisibilityTimeout=10)
        except Exception:
            record["receive_retries"] += 1
            time.sleep(0.2)
            continue
        for message in answer.get("Messages", []):
            record["received"].append((message["Body"], message["MessageId"]))
            try:
                clients.get(endpoint).delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
            except Exception:
                record["delete_failures"] += 1


def check(record):
    problems = []
    first = {}
    for body, message_id in record["received"]:
        if first.setdefault(body, message_id) != message_id:
            problems.append(f"duplicate enqueue: {body} received as {first[body]} and {message_id}")
    for body, message_id in record["acked"].items():
        if body not in first:
            problems.append(f"lost: {body} (acknowledged as {message_id}) never received")
        elif first[body] != message_id:
            problems.append(f"duplicate enqueue: {body} acknowledged as {message_id}, received as {first[body]}")
    newest = {}
    for body in first:  # first receipts, in the order they happened (dicts keep insertion order)
        group, number = body.split(":")
        if int(number) <= newest.get(group, -1):
            problems.append(f"group order: {body} first received after {group}:{newest[group]}")
        newest[group] = max(newest.get(group, -1), int(number))
    return problems


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--endpoints-file", required=True)
    parser.add_argument("--queue", required=True)
    parser.add_argument("--access-key", required=True)
    parser.add_argument("--secret-key", required=True)
    parser.add_argument("--ca-bundle", help="the cluster's CA (https endpoints)")
    parser.add_argument("--stop-file", required=True)
    parser.add_argument("--report", required=True)
    parser.add_argument("--groups", type=int, default=8)
    parser.add_argument("--rate", type=float, default=25, help="sends per second at most")
    parser.add_argument("--send-give-up", type=float, default=120, help="seconds a send is retried")
    parser.add_argument("--drain-seconds", type=float, default=120)
    parser.add_argument("--max-seconds", type=float, default=1500, help="the whole run, however the drill goes")
    args = parser.parse_args()

    endpoints = Endpoints(args.endpoints_file)
    queue_url = None
    deadline = time.monotonic() + 60
    while queue_url is None:
        try:
            queue_url = client(endpoints.pick(), args).get_queue_url(QueueName=args.queue)["QueueUrl"]
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)
    record = {"acked": {}, "received": [], "send_retries": 0, "send_errors": {}, "receive_retries": 0,
              "delete_failures": 0, "given_up": [], "longest_pause_s": 0.0, "producer_done": False}
    stop = threading.Event()
    producer = threading.Thread(target=produce, args=(args, endpoints, queue_url, stop, record), daemon=True)
    consumer = threading.Thread(target=consume, args=(args, endpoints, queue_url, stop, record), daemon=True)
    started = time.monotonic()
    producer.start()
    consumer.start()
    while not os.path.exists(args.stop_file) and time.monotonic() - started < args.max_seconds:
        time.sleep(0.2)
    stop_time = time.monotonic()
    producer.join(timeout=args.send_give_up + 30)
    while time.monotonic() - stop_time < args.drain_seconds:
        received = {body for body, _ in record["received"]}
        if all(body in received for body in record["acked"]):
            break
        time.sleep(0.5)
    stop.set()
    consumer.join(timeout=30)
    problems = check(record)
    report = {
        "acknowledged": len(record["acked"]),
        "received": len(record["received"]),
        "distinct_received": len({body for body, _ in record["received"]}),
        "send_retries": record["send_retries"],
        "send_errors": record["send_errors"],
        "receive_retries": record["receive_retries"],
        "delete_failures": record["delete_failures"],
        "given_up": len(record["given_up"]),
        "longest_send_pause_s": round(record["longest_pause_s"], 3),
        "seconds": round(time.monotonic() - started, 1),
        "problems": problems[:50],
        "problem_count": len(problems),
    }
    with open(args.report, "w") as f:
        json.dump(report, f, indent=2)
    print(json.dumps(report))
    sys.exit(1 if problems or not record["acked"] else 0)


if __name__ == "__main__":
    main()
