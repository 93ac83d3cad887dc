"""A 3-node Cluster/local for the SQS API tests (its own directory and addresses: 127.0.0.61-63)."""
import json
import os
import subprocess

import boto3
import pytest
from botocore.config import Config

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CLUSTER_DIR = os.path.join(ROOT, ".sqs-tests")
ENV = dict(os.environ, FERRY_CLUSTER_DIR=CLUSTER_DIR, FERRY_LOCAL_BASE="60")


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


def make_client(cluster, node=0, key=None, secret=None, region="us-east-1"):
    address = cluster["nodes"][node]["address"]
    return boto3.client(
        "sqs",
        endpoint_url=f"http://{address}:7300",
        region_name=region,
        aws_access_key_id=key or cluster["sqs"]["access_key_id"],
        aws_secret_access_key=secret or cluster["sqs"]["secret_access_key"],
        config=Config(retries={"max_attempts": 3, "mode": "standard"}, read_timeout=30),
    )


@pytest.fixture(scope="session")
def sqs(cluster):
    return make_client(cluster)
