"""Receipt handles from an earlier receive (what AWS documents), queue attributes AWS has and Ferry keeps, message
system attributes, attribute-name filters, account ids and queue URLs."""
import hashlib
import time

import pytest
from botocore.exceptions import ClientError

from conftest import code, make_client, message, metric, unique

STALE = "ferry_sqs_stale_receipt_handles_total"


def not_visible(sqs, url):
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessagesNotVisible"])
    return int(attributes["Attributes"]["ApproximateNumberOfMessagesNotVisible"])


def stale_count(cluster, operation, queue_type):
    return metric(cluster, STALE).get(f'{{operation="{operation}",queue_type="{queue_type}"}}', 0)


# Receipt handles of an earlier receive


def test_standard_stale_handle_succeeds_and_changes_nothing(sqs, cluster):
    url = sqs.create_queue(QueueName=unique("stale"))["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="m")
    first = sqs.receive_message(QueueUrl=url, VisibilityTimeout=0)["Messages"][0]["ReceiptHandle"]
    second = sqs.receive_message(QueueUrl=url, VisibilityTimeout=30, WaitTimeSeconds=5)["Messages"][0]["ReceiptHandle"]
    assert first != second
    deletes = stale_count(cluster, "DeleteMessage", "standard")
    changes = stale_count(cluster, "ChangeMessageVisibility", "standard")
    # AWS: "If you use an old ReceiptHandle, the request will succeed, but the message might not be deleted."
    sqs.delete_message(QueueUrl=url, ReceiptHandle=first)
    sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=first, VisibilityTimeout=0)
    assert not_visible(sqs, url) == 1, "the stale handle neither deleted the message nor ended its delivery"
    assert "Messages" not in sqs.receive_message(QueueUrl=url)
    batch = sqs.delete_message_batch(QueueUrl=url, Entries=[{"Id": "old", "ReceiptHandle": first}])
    assert [e["Id"] for e in batch["Successful"]] == ["old"]
    assert stale_count(cluster, "DeleteMessage", "standard") == deletes + 1
    assert stale_count(cluster, "ChangeMessageVisibility", "standard") == changes + 1
    # The current handle still works.
    sqs.delete_message(QueueUrl=url, ReceiptHandle=second)
    assert not_visible(sqs, url) == 0


def test_standard_latest_handle_deletes_after_its_visibility_ended(sqs):
    # test_remove_message_with_old_receipt_handle (LocalStack, recorded against AWS).
    url = sqs.create_queue(QueueName=unique("late"))["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="test")
    handle = sqs.receive_message(QueueUrl=url, VisibilityTimeout=1)["Messages"][0]["ReceiptHandle"]
    time.sleep(2)
    sqs.delete_message(QueueUrl=url, ReceiptHandle=handle)
    count = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])["Attributes"]
    assert count == {"ApproximateNumberOfMessages": "0"}


def test_fifo_handle_expires_with_its_visibility_timeout(sqs, cluster):
    url = sqs.create_queue(QueueName=unique("expired", fifo=True),
                           Attributes={"FifoQueue": "true", "ContentBasedDeduplication": "true"})["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="g1-m1", MessageGroupId="1")
    handle = sqs.receive_message(QueueUrl=url, VisibilityTimeout=1, WaitTimeSeconds=5)["Messages"][0]["ReceiptHandle"]
    time.sleep(1.5)
    before = stale_count(cluster, "DeleteMessage", "fifo")
    with pytest.raises(ClientError) as excinfo:
        sqs.delete_message(QueueUrl=url, ReceiptHandle=handle)
    assert code(excinfo) == "InvalidParameterValue"
    assert message(excinfo) == f"Value {handle} for parameter ReceiptHandle is invalid. Reason: The receipt handle has expired."
    assert stale_count(cluster, "DeleteMessage", "fifo") == before + 1
    failed = sqs.delete_message_batch(QueueUrl=url, Entries=[{"Id": "e", "ReceiptHandle": handle}])["Failed"]
    assert [(f["Id"], f["Code"]) for f in failed] == [("e", "InvalidParameterValue")]
    with pytest.raises(ClientError) as excinfo:
        sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=handle, VisibilityTimeout=5)
    assert message(excinfo) == (f"Value {handle} for parameter ReceiptHandle is invalid. Reason: "
                                "Message does not exist or is not available for visibility timeout change.")
    # The message was not deleted: it comes again.
    again = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=5)["Messages"]
    assert [m["Body"] for m in again] == ["g1-m1"]
    sqs.delete_message(QueueUrl=url, ReceiptHandle=again[0]["ReceiptHandle"])


# Queue attributes


def test_server_side_encryption_attributes_are_kept_and_answered(sqs):
    url = sqs.create_queue(QueueName=unique("sse"))["QueueUrl"]
    names = ["KmsMasterKeyId", "KmsDataKeyReusePeriodSeconds", "SqsManagedSseEnabled"]
    assert sqs.get_queue_attributes(QueueUrl=url, AttributeNames=names)["Attributes"] == {"SqsManagedSseEnabled": "true"}
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"KmsMasterKeyId": "testKeyId",
                                                       "KmsDataKeyReusePeriodSeconds": "6000",
                                                       "SqsManagedSseEnabled": "false"})
    assert sqs.get_queue_attributes(QueueUrl=url, AttributeNames=names)["Attributes"] == {
        "KmsMasterKeyId": "testKeyId", "KmsDataKeyReusePeriodSeconds": "6000", "SqsManagedSseEnabled": "false"}
    with pytest.raises(ClientError) as excinfo:
        sqs.set_queue_attributes(QueueUrl=url, Attributes={"KmsMasterKeyId": "k", "SqsManagedSseEnabled": "true"})
    assert code(excinfo) == "InvalidAttributeName"
    assert message(excinfo) == ("You can use one type of server-side encryption (SSE) at one time. "
                                "You can either enable KMS SSE or SQS SSE.")
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"SqsManagedSseEnabled": "true"})
    assert sqs.get_queue_attributes(QueueUrl=url, AttributeNames=names)["Attributes"] == {"SqsManagedSseEnabled": "true"}
    created = sqs.create_queue(QueueName=unique("kms"), Attributes={"KmsMasterKeyId": "alias/aws/sqs"})["QueueUrl"]
    assert sqs.get_queue_attributes(QueueUrl=created, AttributeNames=["All"])["Attributes"]["KmsDataKeyReusePeriodSeconds"] == "300"


def test_all_attributes_are_sqs_ones_and_ferry_settings_answer_by_name(sqs):
    url = sqs.create_queue(QueueName=unique("all"))["QueueUrl"]
    everything = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert set(everything) == {
        "QueueArn", "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible",
        "ApproximateNumberOfMessagesDelayed", "CreatedTimestamp", "LastModifiedTimestamp", "VisibilityTimeout",
        "MaximumMessageSize", "MessageRetentionPeriod", "DelaySeconds", "ReceiveMessageWaitTimeSeconds",
        "SqsManagedSseEnabled"}
    assert sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["DeduplicationWindowSeconds"])["Attributes"] == {
        "DeduplicationWindowSeconds": "300"}


# Message attributes


def test_trace_header_system_attribute_round_trips(sqs):
    url = sqs.create_queue(QueueName=unique("trace"))["QueueUrl"]
    attributes = {"timestamp": {"StringValue": "1493147359900", "DataType": "Number"}}
    trace = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"
    plain = sqs.send_message(QueueUrl=url, MessageBody="test", MessageAttributes=attributes)
    traced = sqs.send_message(QueueUrl=url, MessageBody="test", MessageAttributes=attributes,
                              MessageSystemAttributes={"AWSTraceHeader": {"StringValue": trace, "DataType": "String"}})
    # test_system_attributes_have_no_effect_on_attr_md5 (LocalStack, recorded against AWS).
    assert plain["MD5OfMessageAttributes"] == traced["MD5OfMessageAttributes"]
    assert "MD5OfMessageSystemAttributes" not in plain
    assert traced["MD5OfMessageSystemAttributes"] == "5ae4d5d7636402d80f4eb6d213245a88"
    received = {}
    while len(received) < 2:
        for m in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=2,
                                     MessageSystemAttributeNames=["AWSTraceHeader"]).get("Messages", []):
            received[m["MessageId"]] = m
    assert received[traced["MessageId"]]["Attributes"] == {"AWSTraceHeader": trace}
    assert "Attributes" not in received[plain["MessageId"]]
    with pytest.raises(ClientError) as excinfo:
        sqs.send_message(QueueUrl=url, MessageBody="x",
                         MessageSystemAttributes={"SenderId": {"StringValue": "x", "DataType": "String"}})
    assert code(excinfo) == "InvalidParameterValue"


def test_message_attribute_names_select_as_aws_does(sqs):
    # test_receive_message_message_attribute_names_filters (LocalStack, recorded against AWS).
    url = sqs.create_queue(QueueName=unique("names"), Attributes={"VisibilityTimeout": "0"})["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="msg", MessageAttributes={
        "Help.Me": {"DataType": "String", "StringValue": "Me"},
        "Hello": {"DataType": "String", "StringValue": "There"},
        "General": {"DataType": "String", "StringValue": "Kenobi"}})

    def names(filters):
        message = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=5, MessageAttributeNames=filters)["Messages"][0]
        return sorted(message.get("MessageAttributes", {}))

    everything = ["General", "Hello", "Help.Me"]
    assert names([]) == []
    assert names(["All"]) == everything
    assert names(["*"]) == everything
    assert names([".*"]) == everything
    assert names(["Foo", "Help"]) == []
    assert names(["Hello", "General"]) == ["General", "Hello"]
    assert names(["Foo", "Hello"]) == ["Hello"]
    assert names(["Hel.*"]) == ["Hello", "Help.Me"]
    message = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=5, MessageAttributeNames=["Hello", "General"])["Messages"][0]
    assert message["MD5OfMessageAttributes"] == "fca026605781cb4126a1e9044df24232"


# Account ids and queue URLs


def test_urls_and_arns_use_the_configured_account_and_the_request_host(sqs, cluster, account):
    name = unique("host")
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    assert url == f"http://{cluster['nodes'][0]['address']}:7300/{account}/{name}"
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    assert arn == f"arn:aws:sqs:us-east-1:{account}:{name}"
    # Another account's URL names no queue of this cluster.
    with pytest.raises(ClientError) as excinfo:
        sqs.get_queue_attributes(QueueUrl=url.replace(account, "000000000000"), AttributeNames=["All"])
    assert code(excinfo) == "AWS.SimpleQueueService.NonExistentQueue"
    # A client that reached the node by another name (a proxy, a DNS name) gets URLs with that name.
    proxied = make_client(cluster)
    proxied.meta.events.register("before-sign.sqs.*",
                                 lambda request, **_: request.headers.__setitem__("Host", "queues.example.test:4566"))
    assert proxied.get_queue_url(QueueName=name)["QueueUrl"] == f"http://queues.example.test:4566/{account}/{name}"
    assert proxied.list_queues(QueueNamePrefix=name)["QueueUrls"] == [f"http://queues.example.test:4566/{account}/{name}"]
    # Any node answers, each with its own address.
    other = make_client(cluster, node=2)
    assert other.get_queue_url(QueueName=name)["QueueUrl"] == f"http://{cluster['nodes'][2]['address']}:7300/{account}/{name}"


def test_md5_of_the_body_matches(sqs):
    url = sqs.create_queue(QueueName=unique("md5"))["QueueUrl"]
    body = '{\r\n"machineID" : "d357006e26ff47439e1ef894225d4307"}'
    sent = sqs.send_message(QueueUrl=url, MessageBody=body)
    received = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=5)["Messages"][0]
    assert sent["MD5OfMessageBody"] == received["MD5OfBody"] == hashlib.md5(body.encode()).hexdigest()
    assert received["Body"] == body
