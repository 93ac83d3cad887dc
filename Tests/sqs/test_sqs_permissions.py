"""Queue policies enforced: a key of another account acts on a queue only where the queue's policy allows it, an
explicit Deny stops even the owner, owner-only actions stay the owner's, and every refusal is AccessDenied (403)
and changes nothing. The cluster (conftest) has the owner's key and one key of OTHER_ACCOUNT."""
import json

import pytest

from conftest import ACCOUNT, OTHER_ACCOUNT, OTHER_KEY, code, make_client, message, unique


@pytest.fixture(scope="module")
def other(cluster):
    return make_client(cluster, key=OTHER_KEY[0], secret=OTHER_KEY[1])


def depth(sqs, url):
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])
    return int(attributes["Attributes"]["ApproximateNumberOfMessages"])


def refused(call, action):
    with pytest.raises(Exception) as excinfo:
        call()
    assert code(excinfo) == "AccessDenied", message(excinfo)
    assert f"is not authorized to perform: sqs:{action}" in message(excinfo)
    assert OTHER_KEY[1] not in message(excinfo)
    return message(excinfo)


def test_another_accounts_key_needs_the_queues_policy(sqs, other):
    url = sqs.create_queue(QueueName=unique("shared"))["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    text = refused(lambda: other.send_message(QueueUrl=url, MessageBody="no"), "SendMessage")
    assert text == (f"User: arn:aws:iam::{OTHER_ACCOUNT}:user/{OTHER_KEY[0]} is not authorized to perform: "
                    f"sqs:SendMessage on resource: {arn} because no resource-based policy allows the "
                    f"sqs:SendMessage action")
    refused(lambda: other.receive_message(QueueUrl=url), "ReceiveMessage")
    assert depth(sqs, url) == 0
    # Not listed to the other account, and not found by name without naming the owner's account.
    assert "QueueUrls" not in other.list_queues(QueueNamePrefix="shared")
    with pytest.raises(Exception) as missing:
        other.get_queue_url(QueueName=url.rsplit("/", 1)[1])
    assert code(missing) == "AWS.SimpleQueueService.NonExistentQueue"

    sqs.add_permission(QueueUrl=url, Label="partner", AWSAccountIds=[OTHER_ACCOUNT],
                       Actions=["SendMessage", "GetQueueUrl"])
    assert other.get_queue_url(QueueName=url.rsplit("/", 1)[1], QueueOwnerAWSAccountId=ACCOUNT)["QueueUrl"] == url
    other.send_message(QueueUrl=url, MessageBody="yes")
    assert depth(sqs, url) == 1
    # A batch needs the single action's permission, as in IAM.
    other.send_message_batch(QueueUrl=url, Entries=[{"Id": "a", "MessageBody": "one"}, {"Id": "b", "MessageBody": "two"}])
    assert depth(sqs, url) == 3
    refused(lambda: other.receive_message(QueueUrl=url), "ReceiveMessage")
    refused(lambda: other.delete_message_batch(QueueUrl=url, Entries=[{"Id": "a", "ReceiptHandle": "x"}]),
            "DeleteMessage")
    # Owner-only actions stay the owner's whatever the policy says.
    refused(lambda: other.add_permission(QueueUrl=url, Label="x", AWSAccountIds=[OTHER_ACCOUNT],
                                         Actions=["ReceiveMessage"]), "AddPermission")
    refused(lambda: other.delete_queue(QueueUrl=url), "DeleteQueue")
    refused(lambda: other.create_queue(QueueName=unique("theirs")), "CreateQueue")

    sqs.remove_permission(QueueUrl=url, Label="partner")
    refused(lambda: other.send_message(QueueUrl=url, MessageBody="again"), "SendMessage")
    assert depth(sqs, url) == 3
    sqs.delete_queue(QueueUrl=url)


def test_an_explicit_deny_stops_the_owner_too(sqs, other):
    url = sqs.create_queue(QueueName=unique("guarded"))["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sqs.send_message(QueueUrl=url, MessageBody="kept")
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": json.dumps({"Version": "2012-10-17", "Statement": [
        {"Sid": "everyone-sends", "Effect": "Allow", "Principal": "*", "Action": "sqs:SendMessage", "Resource": arn},
        {"Sid": "no-purge", "Effect": "Deny", "Principal": {"AWS": ["*"]}, "Action": "sqs:Purge*",
         "Resource": f"arn:aws:sqs:*:{ACCOUNT}:*"}]})})
    text = refused(lambda: sqs.purge_queue(QueueUrl=url), "PurgeQueue")
    assert text.endswith("with an explicit deny in a resource-based policy")
    assert depth(sqs, url) == 1
    other.send_message(QueueUrl=url, MessageBody="from the partner")  # the wildcard Allow
    assert depth(sqs, url) == 2
    # The owner can always read and change the policy, even one that denies it.
    assert "no-purge" in sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["Policy"])["Attributes"]["Policy"]
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": ""})
    sqs.purge_queue(QueueUrl=url)
    sqs.delete_queue(QueueUrl=url)
