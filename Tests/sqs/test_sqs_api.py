"""boto3, unchanged but for endpoint_url and credentials, against a 3-node Ferry cluster."""
import hashlib

import pytest
from botocore.exceptions import ClientError

from conftest import code, make_client, unique


# Authentication


def test_wrong_secret_is_signature_does_not_match(cluster):
    client = make_client(cluster, secret="x" * 40)
    with pytest.raises(ClientError) as excinfo:
        client.list_queues()
    assert code(excinfo) == "SignatureDoesNotMatch"
    assert excinfo.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403


def test_unknown_key_is_invalid_client_token_id(cluster):
    client = make_client(cluster, key="AKFRUNKNOWN000000000")
    with pytest.raises(ClientError) as excinfo:
        client.list_queues()
    assert code(excinfo) == "InvalidClientTokenId"


def test_skewed_clock_is_request_expired(cluster, monkeypatch):
    import datetime
    import botocore.auth
    skewed = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None) - datetime.timedelta(minutes=20)
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda *a, **k: skewed)
    client = make_client(cluster)
    with pytest.raises(ClientError) as excinfo:
        client.list_queues()
    assert code(excinfo) == "RequestExpired"
    assert excinfo.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


# Queues


def test_create_get_url_list_and_delete(sqs, cluster, account):
    name = unique("life")
    url = sqs.create_queue(QueueName=name, Attributes={"VisibilityTimeout": "7"})["QueueUrl"]
    assert url == f"http://{cluster['nodes'][0]['address']}:7300/{account}/{name}"
    # Creating again with the same attributes answers the same URL; other attributes are refused.
    assert sqs.create_queue(QueueName=name, Attributes={"VisibilityTimeout": "7"})["QueueUrl"] == url
    with pytest.raises(ClientError) as excinfo:
        sqs.create_queue(QueueName=name, Attributes={"VisibilityTimeout": "8"})
    assert code(excinfo) == "QueueAlreadyExists"
    assert sqs.get_queue_url(QueueName=name)["QueueUrl"] == url
    assert url in sqs.list_queues(QueueNamePrefix=name)["QueueUrls"]
    # Any node answers, with its own address in the URL.
    other = make_client(cluster, node=2)
    assert other.get_queue_url(QueueName=name)["QueueUrl"].endswith(f"/{account}/{name}")
    sqs.delete_queue(QueueUrl=url)
    with pytest.raises(ClientError) as excinfo:
        sqs.get_queue_url(QueueName=name)
    assert code(excinfo) == "AWS.SimpleQueueService.NonExistentQueue"


def test_list_queues_paginates(sqs):
    prefix = unique("page")
    for i in range(5):
        sqs.create_queue(QueueName=f"{prefix}-{i}")
    first = sqs.list_queues(QueueNamePrefix=prefix, MaxResults=2)
    assert len(first["QueueUrls"]) == 2 and "NextToken" in first
    seen = list(first["QueueUrls"])
    token = first["NextToken"]
    while token:
        page = sqs.list_queues(QueueNamePrefix=prefix, MaxResults=2, NextToken=token)
        seen += page["QueueUrls"]
        token = page.get("NextToken")
    assert [u.rsplit("/", 1)[1] for u in seen] == [f"{prefix}-{i}" for i in range(5)]


def test_attributes_get_and_set(sqs, account):
    url = sqs.create_queue(QueueName=unique("attrs", fifo=True),
                           Attributes={"FifoQueue": "true", "ContentBasedDeduplication": "true"})["QueueUrl"]
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert attributes["FifoQueue"] == "true"
    assert attributes["ContentBasedDeduplication"] == "true"
    assert attributes["VisibilityTimeout"] == "30"
    assert attributes["QueueArn"].startswith(f"arn:aws:sqs:us-east-1:{account}:attrs-")
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"VisibilityTimeout": "45"})
    assert sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["VisibilityTimeout"])["Attributes"] == {
        "VisibilityTimeout": "45"}
    with pytest.raises(ClientError) as excinfo:
        sqs.set_queue_attributes(QueueUrl=url, Attributes={"Colour": "blue"})
    assert code(excinfo) == "InvalidAttributeName"
    with pytest.raises(ClientError) as excinfo:
        sqs.set_queue_attributes(QueueUrl=url, Attributes={"VisibilityTimeout": "99999"})
    assert code(excinfo) == "InvalidAttributeValue"


def test_bad_queue_names_and_missing_queues(sqs):
    with pytest.raises(ClientError) as excinfo:
        sqs.create_queue(QueueName="bad name")
    assert code(excinfo) == "InvalidParameterValue"
    with pytest.raises(ClientError) as excinfo:
        sqs.send_message(QueueUrl="http://127.0.0.61:7300/123456789012/nope", MessageBody="x")
    assert code(excinfo) == "AWS.SimpleQueueService.NonExistentQueue"


# Messages


def test_fifo_send_receive_delete_in_group_order_with_attributes(sqs):
    url = sqs.create_queue(QueueName=unique("orders", fifo=True), Attributes={"FifoQueue": "true"})["QueueUrl"]
    attributes = {"Kind": {"DataType": "String", "StringValue": "order"},
                  "Blob": {"DataType": "Binary", "BinaryValue": b"\x00\x01"}}
    sent = []
    for i in range(6):
        answer = sqs.send_message(QueueUrl=url, MessageBody=f"m{i}", MessageGroupId="g1",
                                  MessageDeduplicationId=f"d{i}", MessageAttributes=attributes)
        assert answer["MD5OfMessageBody"] == hashlib.md5(f"m{i}".encode()).hexdigest()
        assert "SequenceNumber" in answer and "MD5OfMessageAttributes" in answer
        sent.append(answer["MessageId"])
    # A retry inside the dedup window answers the first message id and enqueues nothing.
    again = sqs.send_message(QueueUrl=url, MessageBody="m0", MessageGroupId="g1", MessageDeduplicationId="d0")
    assert again["MessageId"] == sent[0]
    received = []
    while len(received) < 6:
        answer = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=2,
                                     MessageAttributeNames=["All"], MessageSystemAttributeNames=["All"])
        for message in answer.get("Messages", []):
            assert message["MessageAttributes"]["Kind"]["StringValue"] == "order"
            assert message["MessageAttributes"]["Blob"]["BinaryValue"] == b"\x00\x01"
            assert message["Attributes"]["MessageGroupId"] == "g1"
            received.append(message)
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    assert [m["Body"] for m in received] == [f"m{i}" for i in range(6)]
    assert [m["MessageId"] for m in received] == sent
    assert sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1).get("Messages", []) == []


def test_batches_and_visibility(sqs):
    url = sqs.create_queue(QueueName=unique("batch"))["QueueUrl"]
    answer = sqs.send_message_batch(QueueUrl=url, Entries=[
        {"Id": f"e{i}", "MessageBody": f"b{i}"} for i in range(10)])
    assert sorted(e["Id"] for e in answer["Successful"]) == sorted(f"e{i}" for i in range(10))
    assert answer.get("Failed", []) == []
    messages = []
    while len(messages) < 10:
        messages += sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=2,
                                        VisibilityTimeout=60).get("Messages", [])
    # Two made visible at once come back; the rest are deleted in one batch.
    change = sqs.change_message_visibility_batch(QueueUrl=url, Entries=[
        {"Id": f"c{i}", "ReceiptHandle": m["ReceiptHandle"], "VisibilityTimeout": 0} for i, m in enumerate(messages[:2])])
    assert len(change["Successful"]) == 2
    deleted = sqs.delete_message_batch(QueueUrl=url, Entries=[
        {"Id": f"d{i}", "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages[2:])])
    assert len(deleted["Successful"]) == 8
    again = []
    while len(again) < 2:
        again += sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=2).get("Messages", [])
    assert sorted(m["Body"] for m in again) == sorted(m["Body"] for m in messages[:2])
    sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=again[0]["ReceiptHandle"], VisibilityTimeout=30)
    sqs.purge_queue(QueueUrl=url)


def test_batch_and_message_errors(sqs):
    url = sqs.create_queue(QueueName=unique("errors", fifo=True), Attributes={"FifoQueue": "true"})["QueueUrl"]
    with pytest.raises(ClientError) as excinfo:
        sqs.send_message(QueueUrl=url, MessageBody="x", MessageDeduplicationId="d")
    assert code(excinfo) == "MissingParameter"
    with pytest.raises(ClientError) as excinfo:
        sqs.send_message(QueueUrl=url, MessageBody="x", MessageGroupId="g")
    assert code(excinfo) == "InvalidParameterValue"
    with pytest.raises(ClientError) as excinfo:
        sqs.send_message_batch(QueueUrl=url, Entries=[
            {"Id": f"e{i}", "MessageBody": "x", "MessageGroupId": "g", "MessageDeduplicationId": f"d{i}"}
            for i in range(11)])
    assert code(excinfo) == "AWS.SimpleQueueService.TooManyEntriesInBatchRequest"
    with pytest.raises(ClientError) as excinfo:
        sqs.send_message_batch(QueueUrl=url, Entries=[
            {"Id": "same", "MessageBody": "x", "MessageGroupId": "g", "MessageDeduplicationId": f"d{i}"}
            for i in range(2)])
    assert code(excinfo) == "AWS.SimpleQueueService.BatchEntryIdsNotDistinct"
    with pytest.raises(ClientError) as excinfo:
        sqs.delete_message(QueueUrl=url, ReceiptHandle="not-a-handle")
    assert code(excinfo) == "ReceiptHandleIsInvalid"
    with pytest.raises(ClientError) as excinfo:
        sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=11)
    assert code(excinfo) == "InvalidParameterValue"
    # An entry of its own failing fails alone (a missing group id fails the whole batch: test_sqs_errors).
    partial = sqs.send_message_batch(QueueUrl=url, Entries=[
        {"Id": "good", "MessageBody": "x", "MessageGroupId": "g", "MessageDeduplicationId": "d1"},
        {"Id": "bad", "MessageBody": "\x01", "MessageGroupId": "g", "MessageDeduplicationId": "d2"}])
    assert [e["Id"] for e in partial["Successful"]] == ["good"]
    assert [(e["Id"], e["Code"], e["SenderFault"]) for e in partial["Failed"]] == [("bad", "InvalidMessageContents", True)]


def test_dead_letter_queue_after_max_receive_count(sqs):
    dlq = sqs.create_queue(QueueName=unique("dlq", fifo=True), Attributes={"FifoQueue": "true"})["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    url = sqs.create_queue(QueueName=unique("work", fifo=True), Attributes={
        "FifoQueue": "true", "VisibilityTimeout": "1",
        "RedrivePolicy": f'{{"deadLetterTargetArn":"{dlq_arn}","maxReceiveCount":"1"}}'})["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="poison", MessageGroupId="g", MessageDeduplicationId="p")
    first = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=5)["Messages"]
    assert first[0]["Body"] == "poison"
    moved = []
    for _ in range(20):
        # The source's next receive after the visibility timeout finds the receive count spent.
        assert sqs.receive_message(QueueUrl=url, WaitTimeSeconds=0).get("Messages", []) == []
        moved = sqs.receive_message(QueueUrl=dlq, WaitTimeSeconds=1, MessageSystemAttributeNames=["All"]).get(
            "Messages", [])
        if moved:
            break
    assert [m["Body"] for m in moved] == ["poison"]
    assert sqs.list_dead_letter_source_queues(QueueUrl=dlq)["queueUrls"] == [url]


def test_producer_consumer_flow_survives_a_node_kill(sqs, cluster):
    """A typical FIFO application through node 1 while node 2 (leading about a third of the partitions: preferred
    leaders are spread evenly) is SIGKILLed and restarted mid-stream: every message exactly once, in group order."""
    from conftest import local
    url = sqs.create_queue(QueueName=unique("flow", fifo=True), Attributes={"FifoQueue": "true"})["QueueUrl"]
    groups = [f"customer-{i}" for i in range(8)]
    sent = {group: [] for group in groups}
    for i in range(240):
        if i == 80:
            local("kill", "2")
        if i == 160:
            local("start", "2")
        group = groups[i % len(groups)]
        body = f"{group}:{i}"
        sqs.send_message(QueueUrl=url, MessageBody=body, MessageGroupId=group, MessageDeduplicationId=f"id-{i}")
        sent[group].append(body)
    received = {group: [] for group in groups}
    total = 0
    for _ in range(200):
        if total == 240:
            break
        answer = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1,
                                     MessageSystemAttributeNames=["MessageGroupId"])
        messages = answer.get("Messages", [])
        for message in messages:
            received[message["Attributes"]["MessageGroupId"]].append(message["Body"])
        if messages:
            sqs.delete_message_batch(QueueUrl=url, Entries=[
                {"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]} for n, m in enumerate(messages)])
        total += len(messages)
    assert received == sent


def test_aws_cli_round_trip(cluster):
    """aws-cli, unchanged: only --endpoint-url and the credentials in the environment."""
    import json
    import os
    import shutil
    import subprocess
    aws = shutil.which("aws")
    if aws is None:
        pytest.fail("aws-cli is not installed (Tests/run installs it)")
    env = dict(os.environ, AWS_ACCESS_KEY_ID=cluster["sqs"]["access_key_id"],
               AWS_SECRET_ACCESS_KEY=cluster["sqs"]["secret_access_key"], AWS_DEFAULT_REGION="us-east-1")
    endpoint = f"http://{cluster['nodes'][1]['address']}:7300"

    def cli(*args):
        done = subprocess.run([aws, "sqs", *args, "--endpoint-url", endpoint, "--output", "json"], env=env,
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout) if done.stdout.strip() else {}

    name = unique("cli", fifo=True)
    url = cli("create-queue", "--queue-name", name, "--attributes", "FifoQueue=true,ContentBasedDeduplication=true")[
        "QueueUrl"]
    assert cli("get-queue-url", "--queue-name", name)["QueueUrl"] == url
    cli("send-message", "--queue-url", url, "--message-body", "from the cli", "--message-group-id", "g")
    message = cli("receive-message", "--queue-url", url, "--wait-time-seconds", "5")["Messages"][0]
    assert message["Body"] == "from the cli"
    cli("delete-message", "--queue-url", url, "--receipt-handle", message["ReceiptHandle"])
    attributes = cli("get-queue-attributes", "--queue-url", url, "--attribute-names", "All")["Attributes"]
    assert attributes["ApproximateNumberOfMessages"] == "0"
    assert cli("list-queues", "--queue-name-prefix", name)["QueueUrls"] == [url]
    cli("tag-queue", "--queue-url", url, "--tags", "team=cli,env=test")
    assert cli("list-queue-tags", "--queue-url", url)["Tags"] == {"team": "cli", "env": "test"}
    cli("untag-queue", "--queue-url", url, "--tag-keys", "env")
    assert cli("list-queue-tags", "--queue-url", url)["Tags"] == {"team": "cli"}
    cli("add-permission", "--queue-url", url, "--label", "cli", "--aws-account-ids", "111122223333",
        "--actions", "SendMessage")
    assert "cli" in cli("get-queue-attributes", "--queue-url", url, "--attribute-names", "Policy")["Attributes"][
        "Policy"]
    cli("remove-permission", "--queue-url", url, "--label", "cli")
    sent = cli("send-message-batch", "--queue-url", url, "--entries",
               json.dumps([{"Id": "a", "MessageBody": "one", "MessageGroupId": "g"},
                           {"Id": "b", "MessageBody": "two", "MessageGroupId": "g"}]))
    assert sorted(e["Id"] for e in sent["Successful"]) == ["a", "b"]
    message = cli("receive-message", "--queue-url", url, "--wait-time-seconds", "5")["Messages"][0]
    cli("change-message-visibility", "--queue-url", url, "--receipt-handle", message["ReceiptHandle"],
        "--visibility-timeout", "0")
    cli("purge-queue", "--queue-url", url)
    arn = attributes["QueueArn"]
    assert cli("list-message-move-tasks", "--source-arn", arn)["Results"] == []
    cli("delete-queue", "--queue-url", url)
    failed = subprocess.run([aws, "sqs", "get-queue-url", "--queue-name", name, "--endpoint-url", endpoint], env=env,
                            capture_output=True, text=True, timeout=60)
    assert failed.returncode != 0 and "NonExistentQueue" in failed.stderr
