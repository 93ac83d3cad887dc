"""The query (XML) protocol, with a real old client: boto3 1.28.80 / botocore 1.31.80, the last that speak it
to SQS (JSON 1.0 became the default in botocore 1.31.81). Tests/run installs them in a virtual environment and
runs this file with it; under a newer boto3 it skips. The flows are the JSON tests' flows: botocore parses the
XML answers by its model and checks the MD5 checksums itself.
"""
import base64
import json
import time
import urllib.error
import urllib.request

import botocore
import pytest
from botocore.exceptions import ClientError

from conftest import code, make_client, message, signed, unique

if botocore.session.get_session().get_service_model("sqs").protocol != "query":
    pytest.skip(f"botocore {botocore.__version__} speaks JSON to SQS; Tests/run runs this file with 1.31.80",
                allow_module_level=True)


@pytest.fixture(scope="module")
def sqs(cluster):
    client = make_client(cluster)
    sent = []
    client.meta.events.register("before-send.sqs.*", lambda request, **_: sent.append(request.headers.get("Content-Type")))
    client.sent = sent
    return client


def test_the_old_client_speaks_the_query_protocol(sqs):
    sqs.list_queues()
    content_type = sqs.sent[-1]
    assert content_type and content_type.startswith(b"application/x-www-form-urlencoded" if isinstance(content_type, bytes)
                                                    else "application/x-www-form-urlencoded")


def test_queue_lifecycle_attributes_and_tags(sqs, cluster, account):
    name = unique("xml")
    url = sqs.create_queue(QueueName=name, Attributes={"VisibilityTimeout": "7", "DelaySeconds": "0"},
                           tags={"team": "orders"})["QueueUrl"]
    assert url == f"http://{cluster['nodes'][0]['address']}:7300/{account}/{name}"
    assert sqs.create_queue(QueueName=name, Attributes={"VisibilityTimeout": "7"})["QueueUrl"] == url
    assert sqs.get_queue_url(QueueName=name)["QueueUrl"] == url
    assert url in sqs.list_queues(QueueNamePrefix=name)["QueueUrls"]
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert attributes["VisibilityTimeout"] == "7"
    assert attributes["QueueArn"] == f"arn:aws:sqs:us-east-1:{account}:{name}"
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"VisibilityTimeout": "9", "KmsMasterKeyId": "alias/k"})
    assert sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["VisibilityTimeout", "KmsMasterKeyId"])["Attributes"] == {
        "VisibilityTimeout": "9", "KmsMasterKeyId": "alias/k"}
    sqs.tag_queue(QueueUrl=url, Tags={"env": "test"})
    sqs.untag_queue(QueueUrl=url, TagKeys=["team"])
    assert sqs.list_queue_tags(QueueUrl=url)["Tags"] == {"env": "test"}
    sqs.add_permission(QueueUrl=url, Label="senders", AWSAccountIds=["111122223333"], Actions=["SendMessage"])
    assert json.loads(sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["Policy"])["Attributes"]["Policy"])[
        "Statement"][0]["Sid"] == "senders"
    sqs.remove_permission(QueueUrl=url, Label="senders")
    sqs.delete_queue(QueueUrl=url)
    with pytest.raises(ClientError) as excinfo:
        sqs.get_queue_url(QueueName=name)
    assert code(excinfo) == "AWS.SimpleQueueService.NonExistentQueue"
    assert message(excinfo) == "The specified queue does not exist for this wsdl version."


def test_standard_messages_batches_visibility_and_deletes(sqs):
    url = sqs.create_queue(QueueName=unique("xmlmsg"))["QueueUrl"]
    body = 'quoted "&amp;" <tag> and a carriage return\r'
    attributes = {"Kind": {"DataType": "String", "StringValue": "order & more"},
                  "Weight": {"DataType": "Number", "StringValue": "1.5"},
                  "Blob": {"DataType": "Binary", "BinaryValue": b"\x00\x01\xff"}}
    sent = sqs.send_message(QueueUrl=url, MessageBody=body, MessageAttributes=attributes)
    batch = sqs.send_message_batch(QueueUrl=url, Entries=[
        {"Id": "a", "MessageBody": "one"}, {"Id": "b", "MessageBody": "two"},
        {"Id": "late", "MessageBody": "three", "DelaySeconds": 1800}])
    assert sorted(e["Id"] for e in batch["Successful"]) == ["a", "b"]
    assert [(e["Id"], e["Code"], e["SenderFault"]) for e in batch["Failed"]] == [("late", "InvalidParameterValue", True)]
    messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, AttributeNames=["All"],
                                   MessageAttributeNames=["All"], VisibilityTimeout=30)["Messages"]
    assert sorted(m["Body"] for m in messages) == sorted([body, "one", "two"])
    first = next(m for m in messages if m["MessageId"] == sent["MessageId"])
    assert first["MessageAttributes"]["Blob"]["BinaryValue"] == b"\x00\x01\xff"
    assert first["MessageAttributes"]["Kind"]["StringValue"] == "order & more"
    assert first["Attributes"]["ApproximateReceiveCount"] == "1"
    changed = sqs.change_message_visibility_batch(QueueUrl=url, Entries=[
        {"Id": f"c{i}", "ReceiptHandle": m["ReceiptHandle"], "VisibilityTimeout": 60} for i, m in enumerate(messages)])
    assert len(changed["Successful"]) == 3
    sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=first["ReceiptHandle"], VisibilityTimeout=0)
    sqs.delete_message(QueueUrl=url, ReceiptHandle=first["ReceiptHandle"])
    deleted = sqs.delete_message_batch(QueueUrl=url, Entries=[
        {"Id": f"d{i}", "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages) if m is not first]
        + [{"Id": "bad", "ReceiptHandle": "garbage"}])
    assert len(deleted["Successful"]) == 2
    assert [(e["Id"], e["Code"]) for e in deleted["Failed"]] == [("bad", "ReceiptHandleIsInvalid")]
    assert "Messages" not in sqs.receive_message(QueueUrl=url)
    sqs.send_message(QueueUrl=url, MessageBody="to purge")
    sqs.purge_queue(QueueUrl=url)
    assert "Messages" not in sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1)


def test_fifo_order_deduplication_and_errors(sqs):
    url = sqs.create_queue(QueueName=unique("xmlfifo", fifo=True), Attributes={"FifoQueue": "true"})["QueueUrl"]
    ids = [sqs.send_message(QueueUrl=url, MessageBody=f"m{i}", MessageGroupId="g", MessageDeduplicationId=f"d{i}")
           for i in range(3)]
    assert int(ids[0]["SequenceNumber"]) < int(ids[1]["SequenceNumber"]) < int(ids[2]["SequenceNumber"])
    again = sqs.send_message(QueueUrl=url, MessageBody="m0", MessageGroupId="g", MessageDeduplicationId="d0")
    assert again["MessageId"] == ids[0]["MessageId"]
    got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, AttributeNames=["MessageGroupId"])["Messages"]
    assert [m["Body"] for m in got] == ["m0", "m1", "m2"]
    assert got[0]["Attributes"]["MessageGroupId"] == "g"
    with pytest.raises(ClientError) as excinfo:
        sqs.send_message(QueueUrl=url, MessageBody="x", MessageGroupId="g")
    assert code(excinfo) == "InvalidParameterValue"
    with pytest.raises(ClientError) as excinfo:
        sqs.send_message_batch(QueueUrl=url, Entries=[])
    assert code(excinfo) == "AWS.SimpleQueueService.EmptyBatchRequest"
    with pytest.raises(ClientError) as excinfo:
        sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=11)
    assert message(excinfo) == "Value 11 for parameter MaxNumberOfMessages is invalid. Reason: Must be between 1 and 10, if provided."


def test_dead_letters_and_a_redrive(sqs):
    dlq = sqs.create_queue(QueueName=unique("xmldlq"))["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    source = sqs.create_queue(QueueName=unique("xmlsrc"), Attributes={
        "VisibilityTimeout": "0",
        "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 1})})["QueueUrl"]
    assert sqs.list_dead_letter_source_queues(QueueUrl=dlq)["queueUrls"] == [source]
    sqs.send_message(QueueUrl=source, MessageBody="poison")
    assert len(sqs.receive_message(QueueUrl=source, WaitTimeSeconds=5)["Messages"]) == 1
    deadline = time.time() + 30
    while time.time() < deadline and "Messages" in sqs.receive_message(QueueUrl=source):
        pass
    deadline = time.time() + 30
    while time.time() < deadline:
        count = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["ApproximateNumberOfMessages"])["Attributes"]
        if count["ApproximateNumberOfMessages"] == "1":
            break
        time.sleep(0.2)
    handle = sqs.start_message_move_task(SourceArn=dlq_arn, MaxNumberOfMessagesPerSecond=10)["TaskHandle"]
    tasks = sqs.list_message_move_tasks(SourceArn=dlq_arn, MaxResults=10)["Results"]
    assert tasks and tasks[0]["SourceArn"] == dlq_arn
    try:
        sqs.cancel_message_move_task(TaskHandle=handle)
    except ClientError as error:  # it may have finished already
        assert code_of(error) == "ResourceNotFoundException"


def code_of(error):
    return error.response["Error"]["Code"]


def get(cluster, path, params):
    method, url, headers, _ = signed(cluster, "GET", path=path, params=params)
    request = urllib.request.Request(url, headers=headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def test_signed_get_requests_to_a_queue_url(sqs, cluster, account):
    name = unique("xmlget")
    sqs.create_queue(QueueName=name)
    path = f"/{account}/{name}"
    status, text = get(cluster, path, {"Action": "GetQueueAttributes", "AttributeName.1": "All"})
    assert status == 200
    assert "<GetQueueAttributesResponse" in text
    assert "<Attribute><Name>QueueArn</Name><Value>arn:aws:sqs:" in text
    assert "<Attribute><Name>VisibilityTimeout</Name><Value>30</Value></Attribute>" in text
    status, text = get(cluster, path, {"Action": "SendMessage", "MessageBody": "by GET"})
    assert status == 200 and "<MD5OfMessageBody>" in text
    status, text = get(cluster, path, {"Action": "ReceiveMessage"})
    assert status == 200 and "<Body>by GET</Body>" in text
    status, text = get(cluster, path, {"Action": "FooBar", "Version": "2012-11-05"})
    assert status == 400
    assert "<Code>InvalidAction</Code>" in text and "<Type>Sender</Type>" in text
    assert "<Message>The action FooBar is not valid for this endpoint.</Message>" in text
    status, text = get(cluster, path, {"Action": "CreateQueue", "QueueName": unique("no")})
    assert status == 400 and "<Message>The action CreateQueue is not valid for this endpoint.</Message>" in text
    status, text = get(cluster, path, {"Action": "SendMessage"})
    assert status == 400 and "<Code>MissingParameter</Code>" in text
    assert "<Message>The request must contain the parameter MessageBody.</Message>" in text
    status, text = get(cluster, path, {"Action": "GetQueueAttributes", "AttributeName.1": "Foobar"})
    assert status == 400 and "<Code>InvalidAttributeName</Code>" in text
    assert "<Message>Unknown Attribute Foobar.</Message>" in text
