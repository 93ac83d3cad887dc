"""The cluster's own access keys (`ferry auth`, kept in the metadata group): a new key signs SQS requests on
every node; another account's key needs the queue's policy; list-keys never shows a secret; rotate-key keeps the
old secret for its grace; revoke-key is refused by every node within a second while another key's load goes on
without one failed request; a key survives a node's restart."""
import http.client
import json
import os
import subprocess
import threading
import time

import pytest

from conftest import ACCOUNT, ENV, ROOT, code, local, make_client, signed, unique

FERRY = os.environ.get("FERRY_BIN") or os.path.join(ROOT, ".build", "release", "ferry")


def ferry(cluster, *args, check=True):
    endpoints = ",".join(f"{node['address']}:{node['client_port']}" for node in cluster["nodes"])
    answer = subprocess.run([FERRY, *args], env=dict(ENV, FERRY_ENDPOINTS=endpoints), capture_output=True,
                            text=True, timeout=60)
    if check:
        assert answer.returncode == 0, answer.stderr
    return answer


def create_key(cluster, *args):
    lines = dict(line.split("\t", 1) for line in ferry(cluster, "auth", "create-key", *args).stdout.splitlines())
    return lines["access_key_id"], lines["secret_access_key"]


def clients(cluster, key):
    return [make_client(cluster, node=n, key=key[0], secret=key[1]) for n in range(len(cluster["nodes"]))]


def test_a_created_key_signs_on_every_node_and_list_keys_shows_no_secret(cluster, sqs):
    key = create_key(cluster)
    url = sqs.create_queue(QueueName=unique("keys"))["QueueUrl"]
    for client in clients(cluster, key):
        # The key belongs to the cluster's own account: it owns the queue.
        client.send_message(QueueUrl=url, MessageBody="signed by a cluster key")
    listed = ferry(cluster, "auth", "list-keys").stdout
    assert key[0] in listed and f"account {ACCOUNT}" in listed
    assert key[1] not in listed
    # An unknown key is refused as AWS refuses one.
    with pytest.raises(Exception) as excinfo:
        make_client(cluster, key="AKFRNOSUCHKEY0000000", secret=key[1]).list_queues()
    assert code(excinfo) == "InvalidClientTokenId"


def test_bad_key_changes_are_refused_with_a_reason(cluster):
    assert "does not exist" in ferry(cluster, "auth", "revoke-key", "AKFRNOSUCHKEY0000000", check=False).stderr
    answer = ferry(cluster, "auth", "create-key", "--account", "12", check=False)
    assert answer.returncode == 1 and "an account id is 12 digits" in answer.stderr


def test_another_accounts_key_acts_only_where_the_policy_allows(cluster, sqs):
    key = create_key(cluster, "--account", "333344445555")
    url = sqs.create_queue(QueueName=unique("keys-other"))["QueueUrl"]
    other = make_client(cluster, key=key[0], secret=key[1])
    with pytest.raises(Exception) as excinfo:
        other.send_message(QueueUrl=url, MessageBody="no")
    assert code(excinfo) == "AccessDenied"
    sqs.add_permission(QueueUrl=url, Label="partner", AWSAccountIds=["333344445555"], Actions=["SendMessage"])
    other.send_message(QueueUrl=url, MessageBody="allowed by the policy")


def test_rotation_keeps_the_old_secret_for_its_grace(cluster, sqs):
    key = create_key(cluster)
    lines = dict(line.split("\t", 1) for line in ferry(cluster, "auth", "rotate-key", key[0],
                                                       "--grace-seconds", "2").stdout.splitlines())
    new = (key[0], lines["secret_access_key"])
    assert new[1] != key[1]
    time.sleep(0.5)
    make_client(cluster, key=key[0], secret=key[1]).list_queues()
    make_client(cluster, key=new[0], secret=new[1]).list_queues()
    time.sleep(2)
    with pytest.raises(Exception) as excinfo:
        make_client(cluster, key=key[0], secret=key[1]).list_queues()
    assert code(excinfo) == "SignatureDoesNotMatch"
    make_client(cluster, key=new[0], secret=new[1]).list_queues()


def test_revocation_reaches_every_node_within_a_second_while_other_load_goes_on(cluster, sqs):
    steady, doomed = create_key(cluster), create_key(cluster)
    url = sqs.create_queue(QueueName=unique("keys-load"))["QueueUrl"]
    steady_clients = clients(cluster, steady)
    failures, sent, stop = [], [0], threading.Event()

    def load():
        deadline = time.monotonic() + 30
        while not stop.is_set() and time.monotonic() < deadline and sent[0] < 5000:
            try:
                steady_clients[sent[0] % len(steady_clients)].send_message(QueueUrl=url, MessageBody="steady")
                sent[0] += 1
            except Exception as error:  # any failure of the steady key fails the test
                failures.append(repr(error))

    thread = threading.Thread(target=load)
    thread.start()
    try:
        doomed_clients = clients(cluster, doomed)
        for client in doomed_clients:
            client.list_queues()
        time.sleep(0.5)
        ferry(cluster, "auth", "revoke-key", doomed[0])
        revoked_at = time.monotonic()
        refused = set()
        while len(refused) < len(doomed_clients) and time.monotonic() - revoked_at < 5:
            for n, client in enumerate(doomed_clients):
                if n in refused:
                    continue
                try:
                    client.list_queues()
                except Exception as error:
                    assert code_of(error) == "InvalidClientTokenId", error
                    refused.add(n)
            time.sleep(0.02)
        took = time.monotonic() - revoked_at
        assert len(refused) == len(doomed_clients), f"still accepted after {took:.2f} s"
        assert took < 1.0, f"revocation took {took:.2f} s to reach every node"
        print(f"revocation refused on all {len(doomed_clients)} nodes {took * 1000:.0f} ms after revoke-key returned")
        time.sleep(0.5)
    finally:
        stop.set()
        thread.join()
    assert not failures, failures[:3]
    assert sent[0] > 0
    assert doomed[0] not in ferry(cluster, "auth", "list-keys").stdout


def code_of(error):
    return error.response["Error"]["Code"]


def test_a_key_survives_a_node_restart(cluster):
    key = create_key(cluster)
    local("stop", "3")
    local("start", "3")
    client = make_client(cluster, node=2, key=key[0], secret=key[1])
    deadline = time.monotonic() + 30
    while True:
        try:
            client.list_queues()
            break
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def test_failed_authentications_from_one_address_are_throttled_there_only(cluster):
    """Ten wrong signatures in 10 s from one address: its next requests are refused unchecked (Throttling), even
    correctly signed ones, while other addresses are served; the failures are counted in /metrics."""
    body = b"{}"
    headers = {"X-Amz-Target": "AmazonSQS.ListQueues", "Content-Type": "application/x-amz-json-1.0"}
    method, url, good_headers, good_body = signed(cluster, "POST", "/", body, headers)
    host, port = cluster["nodes"][0]["address"], 7300

    def post(source, request_headers):
        connection = http.client.HTTPConnection(host, port, timeout=10, source_address=(source, 0))
        try:
            connection.request("POST", "/", body=good_body, headers=request_headers)
            answer = connection.getresponse()
            return answer.status, json.loads(answer.read() or b"{}")
        finally:
            connection.close()

    bad = dict(good_headers)
    bad["Authorization"] = bad["Authorization"][:-8] + "00000000"
    for _ in range(10):
        status, answer = post("127.0.0.99", bad)
        assert status == 403 and answer["__type"].endswith("SignatureDoesNotMatch"), answer
    status, answer = post("127.0.0.99", good_headers)
    assert status == 400 and "Throttling" in answer["__type"], answer
    status, answer = post("127.0.0.1", good_headers)
    assert status == 200, answer
    text = subprocess.run(["curl", "-s", f"http://{host}:{port}/metrics"], capture_output=True, text=True).stdout
    assert 'ferry_auth_failures_total{api="sqs",reason="SignatureDoesNotMatch"}' in text
