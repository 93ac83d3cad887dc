"""Checks Cluster/grafana/ferry-dashboard.json against a running cluster and a Prometheus that scrapes it.

Run by Tests/grafana/run (which starts both): a workload through the SQS API, then for every panel target and
template variable: each metric named must be announced by some node's /metrics, and each query must be valid
PromQL that returns at least one series.
"""

import json
import os
import re
import ssl
import sys
import time
import urllib.parse
import urllib.request

import boto3
import botocore

DIR = sys.argv[1]
NODES = ["127.0.0.91", "127.0.0.92", "127.0.0.93"]
PROMETHEUS = "http://127.0.0.1:19090"
DASHBOARD = os.path.join(os.path.dirname(__file__), "..", "..", "Cluster", "grafana", "ferry-dashboard.json")
TLS = ssl.create_default_context(cafile=os.path.join(DIR, "tls", "ca.pem"))


def workload():
    sqs = boto3.client("sqs", endpoint_url=f"https://{NODES[0]}:7300")
    dlq = sqs.create_queue(QueueName="dash-dlq")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    jobs = sqs.create_queue(
        QueueName="dash",
        Attributes={"RedrivePolicy": json.dumps({"deadLetterTargetArn": arn, "maxReceiveCount": "1"})},
    )["QueueUrl"]
    for i in range(20):
        sqs.send_message(QueueUrl=jobs, MessageBody=f"job {i}")
    # A stale handle: one message received twice, deleted with the first receive's handle, then the second's.
    stale = sqs.create_queue(QueueName="dash-stale")["QueueUrl"]
    sqs.send_message(QueueUrl=stale, MessageBody="once")
    first = sqs.receive_message(QueueUrl=stale, VisibilityTimeout=0, WaitTimeSeconds=5)["Messages"][0]
    second = sqs.receive_message(QueueUrl=stale, VisibilityTimeout=30, WaitTimeSeconds=5)["Messages"][0]
    sqs.delete_message(QueueUrl=stale, ReceiptHandle=first["ReceiptHandle"])
    sqs.delete_message(QueueUrl=stale, ReceiptHandle=second["ReceiptHandle"])
    for message in sqs.receive_message(QueueUrl=jobs, MaxNumberOfMessages=10, VisibilityTimeout=1).get("Messages", []):
        sqs.delete_message(QueueUrl=jobs, ReceiptHandle=message["ReceiptHandle"])
    # Received once and not deleted: dead-lettered by the next receives (maxReceiveCount 1).
    sqs.receive_message(QueueUrl=jobs, MaxNumberOfMessages=10, VisibilityTimeout=1)
    end = time.time() + 30
    while time.time() < end and sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["All"])["Attributes"][
        "ApproximateNumberOfMessages"
    ] == "0":
        sqs.receive_message(QueueUrl=jobs, MaxNumberOfMessages=10, WaitTimeSeconds=1)
    empty = sqs.create_queue(QueueName="dash-empty")["QueueUrl"]
    sqs.receive_message(QueueUrl=empty, WaitTimeSeconds=0)
    try:
        sqs.get_queue_url(QueueName="no-such-queue")
    except botocore.exceptions.ClientError:
        pass
    wrong = boto3.client(
        "sqs",
        endpoint_url=f"https://{NODES[1]}:7300",
        aws_access_key_id=os.environ["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key="not-the-secret-of-this-key",
    )
    try:
        wrong.list_queues()
        raise AssertionError("a wrong secret was accepted")
    except botocore.exceptions.ClientError:
        pass


def exported():
    """Every metric family some node announces, with histograms' series names."""
    names = set()
    for node in NODES:
        text = urllib.request.urlopen(f"https://{node}:7300/metrics", context=TLS, timeout=10).read().decode()
        for line in text.splitlines():
            match = re.match(r"# TYPE (\S+) (\S+)", line)
            if match:
                names.add(match.group(1))
                if match.group(2) == "histogram":
                    names.update(match.group(1) + suffix for suffix in ("_bucket", "_sum", "_count"))
    return names


def query(expr):
    url = PROMETHEUS + "/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    answer = json.loads(urllib.request.urlopen(url, timeout=10).read())
    assert answer["status"] == "success", (expr, answer)
    return answer["data"]["result"]


def main():
    dashboard = json.load(open(DASHBOARD))
    targets = [(panel["title"], target["expr"]) for panel in dashboard["panels"] for target in panel.get("targets", [])]
    variables = [v["definition"] for v in dashboard["templating"]["list"] if v["type"] == "query"]
    assert len(targets) >= 25, f"only {len(targets)} queries"

    end = time.time() + 60
    while time.time() < end:
        try:
            up = query("up")
            if len(up) == 3 and all(series["value"][1] == "1" for series in up):
                break
        except Exception:  # Prometheus still starting
            pass
        time.sleep(0.5)
    else:
        raise AssertionError("Prometheus does not scrape the three nodes")

    workload()
    names = exported()
    missing = []
    for title, expr in targets:
        for name in re.findall(r"\bferry_[a-z0-9_]+", expr):
            if name not in names:
                missing.append(f"{title}: {name}")
    for definition in variables:
        for name in re.findall(r"\bferry_[a-z0-9_]+", definition):
            if name not in names:
                missing.append(f"variable {definition}: {name}")
    assert not missing, "queried but exported by no node:\n  " + "\n  ".join(missing)

    # Let Prometheus scrape what the workload changed, then evaluate every panel over the whole run.
    time.sleep(4)
    empty = []
    for title, expr in targets:
        concrete = expr.replace("$__rate_interval", "5m").replace('=~"$queue"', '=~".*"')
        if not query(concrete):
            empty.append(f"{title}: {concrete}")
    assert not empty, "queries without a series:\n  " + "\n  ".join(empty)
    print(f"checked {len(targets)} queries of {len(dashboard['panels'])} panels and {len(variables)} variables")


main()
