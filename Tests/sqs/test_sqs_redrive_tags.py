"""boto3 against a 3-node Ferry cluster: dead-letter redrive (message move tasks), tags, permissions, timestamps
and standard queues."""
import json
import time

import pytest

from conftest import local
from conftest import code, message, unique


def fifo_queue(sqs, prefix, **attributes):
    return sqs.create_queue(QueueName=unique(prefix, fifo=True),
                            Attributes={"FifoQueue": "true", **attributes})["QueueUrl"]


def arn_of(sqs, url):
    return sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]


def drain(sqs, url, expected, seconds=60, delete=True):
    """Receives (and deletes) until `expected` messages came or `seconds` passed; returns their bodies."""
    bodies = []
    end = time.time() + seconds
    while len(bodies) < expected and time.time() < end:
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", [])
        bodies += [m["Body"] for m in messages]
        if messages and delete:
            sqs.delete_message_batch(QueueUrl=url, Entries=[
                {"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]} for n, m in enumerate(messages)])
    return bodies


def wait_for_task(sqs, source_arn, status, seconds=60):
    end = time.time() + seconds
    while time.time() < end:
        tasks = sqs.list_message_move_tasks(SourceArn=source_arn, MaxResults=10)["Results"]
        if tasks and tasks[0]["Status"] == status:
            return tasks
        time.sleep(0.5)
    pytest.fail(f"no {status} task for {source_arn} after {seconds} s: {tasks}")


# Dead-letter redrive


def test_redrive_back_to_the_source_queue_while_a_node_is_killed(sqs):
    """Producer → consumer that fails every message once → DLQ → StartMessageMoveTask back to the source → the
    consumer finishes them; node 2 is SIGKILLed while the task runs and restarted. Every message comes back
    exactly once, in group order."""
    dlq = fifo_queue(sqs, "redrive-dlq")
    dlq_arn = arn_of(sqs, dlq)
    url = fifo_queue(sqs, "redrive-src", VisibilityTimeout="1",
                     RedrivePolicy=json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "1"}))
    sent = [f"job-{i}" for i in range(40)]
    for i, body in enumerate(sent):
        sqs.send_message(QueueUrl=url, MessageBody=body, MessageGroupId=f"g{i % 4}", MessageDeduplicationId=body)
    # The first receive of each message "fails" (no delete); its next receive finds the count spent.
    assert sorted(drain(sqs, url, 40, delete=False)) == sorted(sent)
    end = time.time() + 60
    while time.time() < end:
        sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1)
        depth = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["ApproximateNumberOfMessages"])
        if depth["Attributes"]["ApproximateNumberOfMessages"] == "40":
            break
    assert depth["Attributes"]["ApproximateNumberOfMessages"] == "40"

    with pytest.raises(Exception) as not_a_dlq:
        sqs.start_message_move_task(SourceArn=arn_of(sqs, url))
    assert code(not_a_dlq) == "InvalidParameterValue"

    handle = sqs.start_message_move_task(SourceArn=dlq_arn, MaxNumberOfMessagesPerSecond=20)["TaskHandle"]
    running = sqs.list_message_move_tasks(SourceArn=dlq_arn)["Results"]
    assert running[0]["Status"] in ("RUNNING", "COMPLETED") and running[0]["SourceArn"] == dlq_arn
    local("kill", "2")
    try:
        back = drain(sqs, url, 40, seconds=90)
    finally:
        local("start", "2")
    assert sorted(back) == sorted(sent)
    for group in range(4):
        in_group = [b for b in back if int(b.split("-")[1]) % 4 == group]
        assert in_group == sorted(in_group, key=lambda b: int(b.split("-")[1]))
    tasks = wait_for_task(sqs, dlq_arn, "COMPLETED")
    assert tasks[0]["ApproximateNumberOfMessagesMoved"] == 40
    assert "TaskHandle" not in tasks[0]
    with pytest.raises(Exception) as gone:
        sqs.cancel_message_move_task(TaskHandle=handle)
    assert code(gone) == "ResourceNotFoundException"


def test_redrive_to_another_queue_and_cancel(sqs):
    dlq = fifo_queue(sqs, "cancel-dlq")
    dlq_arn = arn_of(sqs, dlq)
    fifo_queue(sqs, "cancel-src", VisibilityTimeout="0",
               RedrivePolicy=json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "1"}))
    target = fifo_queue(sqs, "cancel-target")
    for i in range(30):
        sqs.send_message(QueueUrl=dlq, MessageBody=f"m{i}", MessageGroupId="g", MessageDeduplicationId=f"m{i}")
    handle = sqs.start_message_move_task(SourceArn=dlq_arn, DestinationArn=arn_of(sqs, target),
                                         MaxNumberOfMessagesPerSecond=1)["TaskHandle"]
    with pytest.raises(Exception) as second:
        sqs.start_message_move_task(SourceArn=dlq_arn)
    assert code(second) == "InvalidParameterValue"
    time.sleep(2.5)
    moved = sqs.cancel_message_move_task(TaskHandle=handle)["ApproximateNumberOfMessagesMoved"]
    assert 1 <= moved < 30
    tasks = wait_for_task(sqs, dlq_arn, "CANCELLED")
    assert tasks[0]["DestinationArn"] == arn_of(sqs, target)
    assert tasks[0]["ApproximateNumberOfMessagesToMove"] == 30
    time.sleep(1)
    arrived = drain(sqs, target, moved, seconds=20)
    assert arrived == [f"m{i}" for i in range(len(arrived))] and len(arrived) >= moved

    with pytest.raises(Exception) as bad_rate:
        sqs.start_message_move_task(SourceArn=dlq_arn, MaxNumberOfMessagesPerSecond=501)
    assert code(bad_rate) == "InvalidParameterValue"
    with pytest.raises(Exception) as missing:
        sqs.start_message_move_task(SourceArn=dlq_arn.replace("cancel-dlq", "nope-dlq"))
    assert code(missing) == "ResourceNotFoundException"
    with pytest.raises(Exception) as bad_handle:
        sqs.cancel_message_move_task(TaskHandle="not-a-handle")
    assert code(bad_handle) == "InvalidParameterValue"


# Tags, permissions, timestamps


def test_tags(sqs):
    name = unique("tags")
    url = sqs.create_queue(QueueName=name, tags={"team": "orders", "env": "test"})["QueueUrl"]
    assert sqs.list_queue_tags(QueueUrl=url)["Tags"] == {"team": "orders", "env": "test"}
    sqs.tag_queue(QueueUrl=url, Tags={"env": "prod", "cost-center": "42"})
    assert sqs.list_queue_tags(QueueUrl=url)["Tags"] == {"team": "orders", "env": "prod", "cost-center": "42"}
    sqs.untag_queue(QueueUrl=url, TagKeys=["team", "absent"])
    assert sqs.list_queue_tags(QueueUrl=url)["Tags"] == {"env": "prod", "cost-center": "42"}
    # Tags are not attributes: creating the queue again with other tags answers the same queue.
    assert sqs.create_queue(QueueName=name, tags={"other": "x"})["QueueUrl"] == url
    assert sqs.list_queue_tags(QueueUrl=url)["Tags"] == {"env": "prod", "cost-center": "42"}
    with pytest.raises(Exception) as too_many:
        sqs.tag_queue(QueueUrl=url, Tags={f"k{i}": "v" for i in range(50)})
    assert code(too_many) == "InvalidParameterValue"
    with pytest.raises(Exception) as long_key:
        sqs.tag_queue(QueueUrl=url, Tags={"k" * 129: "v"})
    assert code(long_key) == "InvalidParameterValue"
    assert sqs.list_queue_tags(QueueUrl=url)["Tags"] == {"env": "prod", "cost-center": "42"}, "refusals change nothing"
    sqs.untag_queue(QueueUrl=url, TagKeys=["env", "cost-center"])
    assert "Tags" not in sqs.list_queue_tags(QueueUrl=url)


def test_a_policy_outside_what_is_evaluated_is_refused_and_changes_nothing(sqs):
    url = sqs.create_queue(QueueName=unique("policy"))["QueueUrl"]
    arn = arn_of(sqs, url)
    good = json.dumps({"Version": "2012-10-17", "Statement": [
        {"Sid": "readers", "Effect": "Allow", "Principal": {"AWS": "111122223333"},
         "Action": ["sqs:ReceiveMessage", "sqs:DeleteMessage"], "Resource": arn},
        {"Sid": "no-purge", "Effect": "Deny", "Principal": "*", "Action": "sqs:Purge*", "Resource": "*",
         "Condition": {"StringNotEquals": {"aws:SourceAccount": "111122223333"}}}]})
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": good})
    bad = [
        ({"Statement": {"Effect": "Permit", "Principal": "*", "Action": "sqs:*", "Resource": "*"}},
         "statement 1: Effect must be Allow or Deny"),
        ({"Statement": {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "*"}},
         "statement 1: action s3:GetObject is not an SQS action (sqs:...)"),
        ({"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "sqs:*", "Resource": "*",
                         "Condition": {"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}}]},
         "statement 1: condition operator IpAddress is not supported"),
    ]
    for document, reason in bad:
        with pytest.raises(Exception) as refused:
            sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": json.dumps(document)})
        assert code(refused) == "InvalidAttributeValue"
        assert message(refused) == f"Invalid value for the parameter Policy. Reason: {reason}"
    assert sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["Policy"])["Attributes"]["Policy"] == good
    with pytest.raises(Exception) as refused:
        sqs.create_queue(QueueName=unique("policy"), Attributes={"Policy": "{\"Statement\": []}"})
    assert message(refused) == "Invalid value for the parameter Policy. Reason: Statement is empty"
    sqs.delete_queue(QueueUrl=url)


def test_permissions_and_policy(sqs):
    url = sqs.create_queue(QueueName=unique("perm"))["QueueUrl"]
    arn = arn_of(sqs, url)
    sqs.add_permission(QueueUrl=url, Label="senders", AWSAccountIds=["111122223333"], Actions=["SendMessage"])
    sqs.add_permission(QueueUrl=url, Label="readers", AWSAccountIds=["111122223333", "444455556666"],
                       Actions=["ReceiveMessage", "DeleteMessage"])
    policy = json.loads(sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["Policy"])["Attributes"]["Policy"])
    assert [s["Sid"] for s in policy["Statement"]] == ["senders", "readers"]
    assert policy["Statement"][0] == {"Sid": "senders", "Effect": "Allow",
                                      "Principal": {"AWS": "arn:aws:iam::111122223333:root"},
                                      "Action": "SQS:SendMessage", "Resource": arn}
    # The same statement again changes nothing; another under the same label is refused (as AWS does).
    sqs.add_permission(QueueUrl=url, Label="senders", AWSAccountIds=["111122223333"], Actions=["SendMessage"])
    with pytest.raises(Exception) as duplicate:
        sqs.add_permission(QueueUrl=url, Label="senders", AWSAccountIds=["444455556666"], Actions=["SendMessage"])
    assert code(duplicate) == "InvalidParameterValue"
    assert message(duplicate) == "Value senders for parameter Label is invalid. Reason: Already exists."
    with pytest.raises(Exception) as bad_action:
        sqs.add_permission(QueueUrl=url, Label="x", AWSAccountIds=["111122223333"], Actions=["DeleteQueue"])
    assert code(bad_action) == "InvalidParameterValue"
    sqs.remove_permission(QueueUrl=url, Label="senders")
    policy = json.loads(sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["Policy"])["Attributes"]["Policy"])
    assert [s["Sid"] for s in policy["Statement"]] == ["readers"]
    with pytest.raises(Exception) as missing:
        sqs.remove_permission(QueueUrl=url, Label="senders")
    assert code(missing) == "InvalidParameterValue"
    sqs.remove_permission(QueueUrl=url, Label="readers")
    assert "Policy" not in sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    # Policy as an attribute, kept as given. It denies everything, but the owner can still read and change it.
    document = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Principal": "*",
                                                                   "Action": "SQS:*", "Resource": arn}]})
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": document})
    assert sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["Policy"])["Attributes"]["Policy"] == document
    with pytest.raises(Exception) as not_json:
        sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": "{not json"})
    assert code(not_json) == "InvalidAttributeValue"


def test_created_and_last_modified_timestamps(sqs):
    before = int(time.time())
    url = sqs.create_queue(QueueName=unique("times"))["QueueUrl"]
    names = ["CreatedTimestamp", "LastModifiedTimestamp"]
    first = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=names)["Attributes"]
    assert before - 2 <= int(first["CreatedTimestamp"]) <= time.time() + 2
    assert first["LastModifiedTimestamp"] == first["CreatedTimestamp"]
    time.sleep(1.1)
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"VisibilityTimeout": "45"})
    second = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=names)["Attributes"]
    assert second["CreatedTimestamp"] == first["CreatedTimestamp"]
    assert int(second["LastModifiedTimestamp"]) > int(first["LastModifiedTimestamp"])


# Standard queues


def test_standard_queue_messages(sqs):
    url = sqs.create_queue(QueueName=unique("std"), Attributes={"VisibilityTimeout": "30"})["QueueUrl"]
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert "FifoQueue" not in attributes and "ContentBasedDeduplication" not in attributes
    with pytest.raises(Exception) as group_on_standard:
        sqs.send_message(QueueUrl=url, MessageBody="x", MessageDeduplicationId="d")
    assert code(group_on_standard) == "InvalidParameterValue"
    sqs.send_message(QueueUrl=url, MessageBody="later", DelaySeconds=2)
    sent = sqs.send_message_batch(QueueUrl=url, Entries=[
        {"Id": str(i), "MessageBody": f"now-{i}",
         "MessageAttributes": {"n": {"DataType": "Number", "StringValue": str(i)}}} for i in range(5)])
    assert len(sent["Successful"]) == 5
    got = drain(sqs, url, 5, seconds=10, delete=False)
    assert sorted(got) == [f"now-{i}" for i in range(5)], "the delayed message is not visible yet"
    messages = []
    end = time.time() + 10
    while not messages and time.time() < end:
        messages = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1).get("Messages", [])
    assert [m["Body"] for m in messages] == ["later"]
    sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=messages[0]["ReceiptHandle"], VisibilityTimeout=0)
    again = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=2, MessageSystemAttributeNames=["All"])["Messages"]
    assert again[0]["Body"] == "later" and again[0]["Attributes"]["ApproximateReceiveCount"] == "2"
    sqs.delete_message(QueueUrl=url, ReceiptHandle=again[0]["ReceiptHandle"])
    counts = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessagesNotVisible"])
    assert counts["Attributes"]["ApproximateNumberOfMessagesNotVisible"] == "5"
