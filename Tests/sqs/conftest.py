"""A 3-node Cluster/local for the SQS API tests (its own directory and addresses: 127.0.0.61-63).

The cluster's SQS account id is not the default (FERRY_SQS_ACCOUNT_ID), so every URL and ARN a test checks also
checks that the configured account is the one used.
"""
import json
import os
import subprocess
import urllib.request
import uuid

import boto3
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CLUSTER_DIR = os.path.join(ROOT, ".sqs-tests")
ACCOUNT = "123456789012"
# A key of another account: it may act on the cluster's queues only where a queue's policy allows it.
OTHER_ACCOUNT = "210987654321"
OTHER_KEY = ("AKFROTHERACCOUNT0001", "other-account-secret-0123456789abcdef")
ENV = dict(os.environ, FERRY_CLUSTER_DIR=CLUSTER_DIR, FERRY_LOCAL_BASE="60", FERRY_SQS_ACCOUNT_ID=ACCOUNT,
           FERRY_SQS_OTHER_KEY=f"{OTHER_KEY[0]}:{OTHER_KEY[1]}:{OTHER_ACCOUNT}")


def local(*args, check=True):
    return subprocess.run([os.path.join(ROOT, "Cluster", "local"), *args], env=ENV, check=check,
                          capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="session")
def cluster():
    local("down", check=False)
    local("up")
    with open(os.path.join(CLUSTER_DIR, "cluster.json")) as f:
        description = json.load(f)
    yield description
    local("down", check=False)


def endpoint(cluster, node=0):
    return f"http://{cluster['nodes'][node]['address']}:7300"


def make_client(cluster, node=0, key=None, secret=None, region="us-east-1", **config):
    return boto3.client(
        "sqs",
        endpoint_url=endpoint(cluster, node),
        region_name=region,
        aws_access_key_id=key or cluster["sqs"]["access_key_id"],
        aws_secret_access_key=secret or cluster["sqs"]["secret_access_key"],
        config=Config(retries={"max_attempts": 3, "mode": "standard"}, read_timeout=30, **config),
    )


@pytest.fixture(scope="session")
def sqs(cluster):
    return make_client(cluster)


@pytest.fixture(scope="session")
def account(cluster):
    assert cluster["sqs"]["account_id"] == ACCOUNT
    return ACCOUNT


def unique(prefix, fifo=False):
    return f"{prefix}-{uuid.uuid4().hex[:8]}" + (".fifo" if fifo else "")


def code(excinfo):
    return excinfo.value.response["Error"]["Code"]


def message(excinfo):
    return excinfo.value.response["Error"]["Message"]


def signed(cluster, method, path="/", body=b"", headers=None, params=None):
    """A request signed as an SDK would sign it (SigV4 over whatever it carries), as (method, url, headers, body)."""
    url = endpoint(cluster) + path
    request = AWSRequest(method=method, url=url, data=body, headers=headers or {}, params=params or {})
    credentials = Credentials(cluster["sqs"]["access_key_id"], cluster["sqs"]["secret_access_key"])
    SigV4Auth(credentials, "sqs", "us-east-1").add_auth(request)
    prepared = request.prepare()
    return prepared.method, prepared.url, dict(prepared.headers), prepared.body


def metric(cluster, name, node=0):
    """The sum of a counter's series on one node's /metrics, with their labels."""
    text = urllib.request.urlopen(endpoint(cluster, node) + "/metrics", timeout=10).read().decode()
    series = {}
    for line in text.splitlines():
        if line.startswith(name + "{"):
            labels, value = line[len(name):].rsplit(" ", 1)
            series[labels] = float(value)
    return series
