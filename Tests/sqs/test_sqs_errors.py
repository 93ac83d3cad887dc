"""AWS's error codes, messages and per-entry batch failures. Each message below is AWS's own, as AWS answered
LocalStack's recorded (snapshot) tests or as SDK users report it; every refusal changes nothing."""
import http.client
import json
import urllib.parse

import pytest
from botocore.exceptions import ClientError

from conftest import code, make_client, message, signed, unique


def refused(call, **arguments):
    with pytest.raises(ClientError) as excinfo:
        call(**arguments)
    return code(excinfo), message(excinfo), excinfo.value.response["ResponseMetadata"]["HTTPStatusCode"]


@pytest.fixture(scope="module")
def standard(sqs):
    return sqs.create_queue(QueueName=unique("errors"))["QueueUrl"]


@pytest.fixture(scope="module")
def fifo(sqs):
    return sqs.create_queue(QueueName=unique("errors", fifo=True), Attributes={"FifoQueue": "true"})["QueueUrl"]


def depth(sqs, url):
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages",
                                                                        "ApproximateNumberOfMessagesNotVisible"])
    return {k: int(v) for k, v in attributes["Attributes"].items()}


# Sends


def test_fifo_sends_need_a_group_and_a_deduplication_id(sqs, fifo):
    assert refused(sqs.send_message, QueueUrl=fifo, MessageBody="x", MessageDeduplicationId="d") == (
        "MissingParameter", "The request must contain the parameter MessageGroupId.", 400)
    assert refused(sqs.send_message, QueueUrl=fifo, MessageBody="x", MessageGroupId="g") == (
        "InvalidParameterValue",
        "The queue should either have ContentBasedDeduplication enabled or MessageDeduplicationId provided explicitly",
        400)
    assert refused(sqs.send_message, QueueUrl=fifo, MessageBody="x", MessageGroupId="g",
                   MessageDeduplicationId="d", DelaySeconds=2)[:2] == (
        "InvalidParameterValue",
        "Value 2 for parameter DelaySeconds is invalid. Reason: The request include parameter that is not valid for this queue type.")
    # DelaySeconds=0 is taken on a FIFO queue (LocalStack issue 6612).
    sqs.send_message(QueueUrl=fifo, MessageBody="x", MessageGroupId="g", MessageDeduplicationId="zero", DelaySeconds=0)


def test_fifo_batch_without_group_or_deduplication_id_fails_as_a_whole(sqs, fifo):
    before = depth(sqs, fifo)
    good = {"Id": "good", "MessageBody": "x", "MessageGroupId": "g", "MessageDeduplicationId": "batch-ok"}
    assert refused(sqs.send_message_batch, QueueUrl=fifo, Entries=[
        good, {"Id": "bad", "MessageBody": "y", "MessageDeduplicationId": "d2"}])[:2] == (
        "InvalidParameterValue", "The request must contain the parameter MessageGroupId.")
    assert refused(sqs.send_message_batch, QueueUrl=fifo, Entries=[
        good, {"Id": "bad", "MessageBody": "y", "MessageGroupId": "g"}])[:2] == (
        "InvalidParameterValue",
        "The queue should either have ContentBasedDeduplication enabled or MessageDeduplicationId provided explicitly")
    assert depth(sqs, fifo) == before, "a refused batch enqueues none of its entries"


def test_standard_sends_refuse_a_deduplication_id_and_a_long_delay(sqs, standard):
    assert refused(sqs.send_message, QueueUrl=standard, MessageBody="x", MessageDeduplicationId="d")[:2] == (
        "InvalidParameterValue",
        "Value d for parameter MessageDeduplicationId is invalid. Reason: The request include parameter that is not valid for this queue type.")
    assert refused(sqs.send_message, QueueUrl=standard, MessageBody="x", DelaySeconds=1000) == (
        "InvalidParameterValue",
        "Value 1000 for parameter DelaySeconds is invalid. Reason: DelaySeconds must be >= 0 and <= 900.", 400)


def test_one_bad_entry_fails_alone(sqs, standard):
    answer = sqs.send_message_batch(QueueUrl=standard, Entries=[
        {"Id": "ok", "MessageBody": "x"},
        {"Id": "late", "MessageBody": "y", "DelaySeconds": 1800},
        {"Id": "garbled", "MessageBody": "\x01"},
    ])
    assert [e["Id"] for e in answer["Successful"]] == ["ok"]
    assert [(e["Id"], e["Code"], e["SenderFault"], e["Message"]) for e in answer["Failed"]] == [
        ("late", "InvalidParameterValue", True,
         "Value 1800 for parameter DelaySeconds is invalid. Reason: DelaySeconds must be >= 0 and <= 900."),
        ("garbled", "InvalidMessageContents", True,
         "Invalid characters found. Valid unicode characters are #x9 | #xA | #xD | #x20 to #xD7FF | #xE000 to #xFFFD | #x10000 to #x10FFFF"),
    ]


def test_batch_shape_errors(sqs, standard):
    entries = [{"Id": f"e{i}", "MessageBody": "x"} for i in range(11)]
    assert refused(sqs.send_message_batch, QueueUrl=standard, Entries=entries) == (
        "AWS.SimpleQueueService.TooManyEntriesInBatchRequest",
        "Maximum number of entries per request are 10. You have sent 11.", 400)
    assert refused(sqs.send_message_batch, QueueUrl=standard,
                   Entries=[{"Id": "same", "MessageBody": "x"}, {"Id": "same", "MessageBody": "y"}])[:2] == (
        "AWS.SimpleQueueService.BatchEntryIdsNotDistinct", "Id same repeated.")
    assert refused(sqs.send_message_batch, QueueUrl=standard, Entries=[{"Id": "message:1", "MessageBody": "x"}])[:2] == (
        "AWS.SimpleQueueService.InvalidBatchEntryId",
        "A batch entry id can only contain alphanumeric characters, hyphens and underscores. It can be at most 80 letters long.")
    for call, entry in [(sqs.send_message_batch, "SendMessageBatchRequestEntry"),
                        (sqs.delete_message_batch, "DeleteMessageBatchRequestEntry"),
                        (sqs.change_message_visibility_batch, "ChangeMessageVisibilityBatchRequestEntry")]:
        assert refused(call, QueueUrl=standard, Entries=[]) == (
            "AWS.SimpleQueueService.EmptyBatchRequest", f"There should be at least one {entry} in the request.", 400)
    # 1 MiB in all, whatever the queue's MaximumMessageSize; each entry alone fits.
    half = "a" * (1_048_576 // 2)
    assert refused(sqs.send_message_batch, QueueUrl=standard, Entries=[
        {"Id": "1", "MessageBody": half}, {"Id": "2", "MessageBody": half}, {"Id": "3", "MessageBody": "a"}])[:2] == (
        "AWS.SimpleQueueService.BatchRequestTooLong",
        "Batch requests cannot be longer than 1048576 bytes. You have sent 1048577 bytes.")


def test_message_size_contents_and_attributes(sqs):
    url = sqs.create_queue(QueueName=unique("size"), Attributes={"MaximumMessageSize": "1024"})["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="a" * 1024)
    attributes = {"k": {"DataType": "String", "StringValue": "x"}}
    assert refused(sqs.send_message, QueueUrl=url, MessageBody="a" * (1024 - 8 + 1), MessageAttributes=attributes)[:2] == (
        "InvalidParameterValue", "One or more parameters are invalid. Reason: Message must be shorter than 1024 bytes.")
    assert refused(sqs.send_message, QueueUrl=url, MessageBody="Invalid-\x00-\x08")[0] == "InvalidMessageContents"
    assert refused(sqs.send_message, QueueUrl=url, MessageBody="x",
                   MessageAttributes={"ErrorDetails": {"StringValue": "", "DataType": "String"}})[:2] == (
        "InvalidParameterValue", "Message (user) attribute 'ErrorDetails' must contain a non-empty value of type 'String'.")
    for name in ["aWs.x", "AMAZON.x", ".x", "x.", "Invalid-!-attr", "Invalid-(-attr", "L" * 257]:
        assert refused(sqs.send_message, QueueUrl=url, MessageBody="x",
                       MessageAttributes={name: {"StringValue": "v", "DataType": "String"}})[0] == "InvalidParameterValue"
    assert refused(sqs.send_message, QueueUrl=url, MessageBody="x",
                   MessageAttributes={"n": {"StringValue": "v", "DataType": "Invalid"}})[:2] == (
        "InvalidParameterValue",
        "The type of message (user) attribute 'n' is invalid. You must use only the following supported type prefixes: Binary, Number, String.")
    assert refused(sqs.send_message, QueueUrl=url, MessageBody="x",
                   MessageAttributes={"attr1": {"StringValue": "Invalid-\x08,\x0b", "DataType": "String"}})[0] == (
        "InvalidParameterValue")
    # Letters of any script are allowed in names.
    sqs.send_message(QueueUrl=url, MessageBody="x", MessageAttributes={"attr.1øßä": {"StringValue": "v", "DataType": "String"}})


# Receives and visibility


def test_receive_parameters_out_of_range(sqs, standard):
    assert refused(sqs.receive_message, QueueUrl=standard, MaxNumberOfMessages=11)[:2] == (
        "InvalidParameterValue", "Value 11 for parameter MaxNumberOfMessages is invalid. Reason: Must be between 1 and 10, if provided.")
    assert refused(sqs.receive_message, QueueUrl=standard, WaitTimeSeconds=21)[:2] == (
        "InvalidParameterValue", "Value 21 for parameter WaitTimeSeconds is invalid. Reason: Must be >= 0 and <= 20, if provided.")
    assert refused(sqs.receive_message, QueueUrl=standard, VisibilityTimeout=43201)[0] == "InvalidParameterValue"
    assert refused(sqs.receive_message, QueueUrl=standard, AttributeNames=["Colour"])[0] == "InvalidAttributeName"


def test_receipt_handles_that_never_existed_and_deleted_messages(sqs, standard):
    assert refused(sqs.delete_message, QueueUrl=standard, ReceiptHandle="garbage")[:2] == (
        "ReceiptHandleIsInvalid", 'The input receipt handle "garbage" is not a valid receipt handle.')
    assert refused(sqs.change_message_visibility, QueueUrl=standard, ReceiptHandle="INVALID", VisibilityTimeout=60)[0] == (
        "ReceiptHandleIsInvalid")
    sqs.send_message(QueueUrl=standard, MessageBody="foo")
    handle = sqs.receive_message(QueueUrl=standard, WaitTimeSeconds=5)["Messages"][0]["ReceiptHandle"]
    sqs.change_message_visibility(QueueUrl=standard, ReceiptHandle=handle, VisibilityTimeout=42)
    sqs.delete_message(QueueUrl=standard, ReceiptHandle=handle)
    # Deleting again: no error (test_delete_message_with_deleted_receipt_handle).
    sqs.delete_message(QueueUrl=standard, ReceiptHandle=handle)
    sqs.delete_message(QueueUrl=standard, ReceiptHandle=handle)
    assert refused(sqs.change_message_visibility, QueueUrl=standard, ReceiptHandle=handle, VisibilityTimeout=42)[:2] == (
        "InvalidParameterValue",
        f"Value {handle} for parameter ReceiptHandle is invalid. Reason: Message does not exist or is not available for visibility timeout change.")
    failed = sqs.delete_message_batch(QueueUrl=standard, Entries=[{"Id": "x", "ReceiptHandle": "garbage"}])["Failed"]
    assert [(f["Id"], f["Code"]) for f in failed] == [("x", "ReceiptHandleIsInvalid")]


# Queues, attributes, tags, permissions


def test_creating_an_existing_queue_compares_only_the_attributes_given(sqs):
    name = unique("exists")
    url = sqs.create_queue(QueueName=name, Attributes={"ReceiveMessageWaitTimeSeconds": "1", "DelaySeconds": "1"})["QueueUrl"]
    assert sqs.create_queue(QueueName=name)["QueueUrl"] == url
    assert sqs.create_queue(QueueName=name, Attributes={"DelaySeconds": "1"})["QueueUrl"] == url
    assert refused(sqs.create_queue, QueueName=name,
                   Attributes={"ReceiveMessageWaitTimeSeconds": "1", "DelaySeconds": "2"})[:2] == (
        "QueueAlreadyExists", "A queue already exists with the same name and a different value for attribute DelaySeconds")
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"DelaySeconds": "2"})
    assert sqs.create_queue(QueueName=name, Attributes={"DelaySeconds": "2"})["QueueUrl"] == url


def test_queue_names_and_attribute_values(sqs, standard):
    invalid = "Can only include alphanumeric characters, hyphens, or underscores. 1 to 80 in length"
    assert refused(sqs.create_queue, QueueName="bad name")[:2] == ("InvalidParameterValue", invalid)
    assert refused(sqs.create_queue, QueueName=unique("suffix", fifo=True))[:2] == ("InvalidParameterValue", invalid)
    assert refused(sqs.create_queue, QueueName=unique("nosuffix"), Attributes={"FifoQueue": "true"})[0] == (
        "InvalidParameterValue")
    assert refused(sqs.create_queue, QueueName=unique("delay"), Attributes={"DelaySeconds": "1000"})[:2] == (
        "InvalidAttributeValue", "Invalid value for the parameter DelaySeconds.")
    assert refused(sqs.get_queue_attributes, QueueUrl=standard, AttributeNames=["Foobar"])[:2] == (
        "InvalidAttributeName", "Unknown Attribute Foobar.")
    policy = json.dumps({"deadLetterTargetArn": "dummy", "maxReceiveCount": 42})
    assert refused(sqs.create_queue, QueueName=unique("redrive"), Attributes={"RedrivePolicy": policy})[:2] == (
        "InvalidParameterValue", f"Value {policy} for parameter RedrivePolicy is invalid. Reason: Invalid value for deadLetterTargetArn.")
    arn = sqs.get_queue_attributes(QueueUrl=standard, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    absent = json.dumps({"deadLetterTargetArn": arn + "-absent", "maxReceiveCount": 3})
    assert refused(sqs.set_queue_attributes, QueueUrl=standard, Attributes={"RedrivePolicy": absent})[:2] == (
        "InvalidParameterValue", f"Value {absent} for parameter RedrivePolicy is invalid. Reason: Dead letter target does not exist.")
    too_many = json.dumps({"deadLetterTargetArn": arn, "maxReceiveCount": 1001})
    assert refused(sqs.set_queue_attributes, QueueUrl=standard, Attributes={"RedrivePolicy": too_many})[1] == (
        f"Value {too_many} for parameter RedrivePolicy is invalid. Reason: Invalid value for maxReceiveCount: 1001, valid values are from 1 to 1000 both inclusive.")


def test_tag_errors(sqs):
    name = unique("tagerr")
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    assert refused(sqs.tag_queue, QueueUrl=url, Tags={"": "x"})[:2] == (
        "InvalidParameterValue", "Tag keys must be between 1 and 128 characters in length.")
    assert refused(sqs.tag_queue, QueueUrl=url, Tags={"bad!key": "x"})[:2] == (
        "InvalidParameterValue",
        "Tag keys may only contain unicode letters, digits, whitespace, or one of these symbols: _ . : / = + - @")
    assert refused(sqs.tag_queue, QueueUrl=url, Tags={f"k{i}": "v" for i in range(51)})[:2] == (
        "InvalidParameterValue", f"Too many tags added for queue {name}.")
    assert refused(sqs.untag_queue, QueueUrl=url, TagKeys=[])[:2] == (
        "MissingParameter", "The request must contain the parameter TagKeys.")
    # Empty values and case-distinct keys are fine (test_tag_untag_queue, test_tags_case_sensitive).
    sqs.tag_queue(QueueUrl=url, Tags={"MyTag": "value1", "mytag": "value2", "empty": ""})
    assert sqs.list_queue_tags(QueueUrl=url)["Tags"] == {"MyTag": "value1", "mytag": "value2", "empty": ""}


def test_permission_errors(sqs, standard):
    assert refused(sqs.add_permission, QueueUrl=standard, Label="l", AWSAccountIds=["111122223333"],
                   Actions=["DeleteQueue"])[:2] == (
        "InvalidParameterValue",
        "Value SQS:DeleteQueue for parameter ActionName is invalid. Reason: Only the queue owner is allowed to invoke this action.")
    assert refused(sqs.add_permission, QueueUrl=standard, Label="l", AWSAccountIds=["111122223333"],
                   Actions=["FooBar"])[:2] == (
        "InvalidParameterValue",
        "Value SQS:FooBar for parameter ActionName is invalid. Reason: Please refer to the appropriate WSDL for a list of valid actions.")
    assert refused(sqs.remove_permission, QueueUrl=standard, Label="absent")[:2] == (
        "InvalidParameterValue", "Value absent for parameter Label is invalid. Reason: can't find label on existing policy.")


def test_missing_queues(sqs, account):
    assert refused(sqs.get_queue_url, QueueName=unique("absent")) == (
        "AWS.SimpleQueueService.NonExistentQueue", "The specified queue does not exist.", 400)
    assert refused(sqs.send_message, QueueUrl=f"http://127.0.0.61:7300/{account}/absent", MessageBody="x")[0] == (
        "AWS.SimpleQueueService.NonExistentQueue")
    assert refused(sqs.start_message_move_task, SourceArn=f"arn:aws:sqs:us-east-1:{account}:absent")[:3] == (
        "ResourceNotFoundException", "The resource that you specified for the SourceArn parameter doesn't exist.", 404)


# Malformed requests: AWS's shape, nothing changed, the connection still usable.


def test_malformed_requests_get_aws_errors_and_leave_the_connection_usable(sqs, cluster):
    address = cluster["nodes"][0]["address"]
    connection = http.client.HTTPConnection(address, 7300, timeout=30)
    before = sqs.list_queues().get("QueueUrls", [])

    def send(method, path, body, headers):
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()

    def json_call(operation, body, **overrides):
        headers = {"Content-Type": "application/x-amz-json-1.0", "X-Amz-Target": f"AmazonSQS.{operation}"}
        headers.update(overrides)
        method, url, signed_headers, data = signed(cluster, "POST", body=body, headers=headers)
        return send(method, urllib.parse.urlsplit(url).path, data, signed_headers)

    def tampered():
        # Signed for ListQueues, sent as CreateQueue: the signature covers the target header.
        headers = {"Content-Type": "application/x-amz-json-1.0", "X-Amz-Target": "AmazonSQS.ListQueues"}
        method, url, signed_headers, data = signed(cluster, "POST", body=b"{}", headers=headers)
        signed_headers["X-Amz-Target"] = "AmazonSQS.CreateQueue"
        return send(method, "/", data, signed_headers)

    unsigned = {"Content-Type": "application/x-amz-json-1.0", "X-Amz-Target": "AmazonSQS.ListQueues"}
    receive = json.dumps({"QueueUrl": before[0] if before else "x", "MaxNumberOfMessages": "ten"}).encode()
    cases = [
        (json_call("ListQueues", b"{not json"), 400, "SerializationException"),
        (json_call("ReceiveMessage", receive), 400, "SerializationException"),
        (json_call("FooBar", b"{}"), 400, "UnknownOperationException"),
        (send("POST", "/", b"{}", unsigned), 403, "MissingAuthenticationToken"),
        (tampered(), 403, "SignatureDoesNotMatch"),
        (json_call("SendMessage", b" " * (13 << 20)), 413, "RequestEntityTooLarge"),
    ]
    for (status, headers, body), expected_status, expected_code in cases:
        assert status == expected_status, (status, body[:200])
        assert headers.get("x-amzn-query-error", "").split(";")[0] == expected_code, (headers, body[:200])
        assert "__type" in json.loads(body) and "message" in json.loads(body)
    # The same connection still answers, and nothing changed.
    status, _, body = json_call("ListQueues", b"{}")
    assert status == 200
    assert sqs.list_queues().get("QueueUrls", []) == before
    connection.close()
