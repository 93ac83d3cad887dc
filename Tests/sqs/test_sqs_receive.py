"""Receives that fill the batch, as SQS's do: from every partition of the queue (Ferry's queues have 4), several
messages of one FIFO group in order then other groups, a long poll that answers as soon as one message is there,
and no message taken into flight that the answer does not carry."""
import threading
import time

from conftest import unique


def attributes(sqs, url, *names):
    return sqs.get_queue_attributes(QueueUrl=url, AttributeNames=list(names))["Attributes"]


def fifo(sqs, prefix, **attributes):
    return sqs.create_queue(QueueName=unique(prefix, fifo=True),
                            Attributes={"FifoQueue": "true", "ContentBasedDeduplication": "true", **attributes})["QueueUrl"]


def test_standard_receive_returns_every_available_message_up_to_the_maximum(sqs):
    url = sqs.create_queue(QueueName=unique("fill"))["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="a")
    sqs.send_message(QueueUrl=url, MessageBody="b")
    assert sorted(m["Body"] for m in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=2)["Messages"]) == ["a", "b"]
    # Spread over the partitions (round-robin): one call fills the batch from all of them.
    sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": str(i), "MessageBody": f"m{i}"} for i in range(7)])
    got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    assert sorted(m["Body"] for m in got) == [f"m{i}" for i in range(7)]
    sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": str(i), "MessageBody": f"n{i}"} for i in range(10)])
    sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": str(i), "MessageBody": f"o{i}"} for i in range(5)])
    assert len(sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]) == 10


def test_fifo_batch_takes_a_group_in_order_before_another(sqs):
    url = fifo(sqs, "groups")
    for body, group in [("a1", "A"), ("a2", "A"), ("a3", "A"), ("b1", "B")]:
        sqs.send_message(QueueUrl=url, MessageBody=body, MessageGroupId=group)
    assert [m["Body"] for m in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=2)["Messages"]] == ["a1", "a2"]
    # Group A is in flight; B is what is left.
    assert [m["Body"] for m in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]] == ["b1"]


def test_fifo_messages_of_two_groups_come_back_in_one_call(sqs):
    url = fifo(sqs, "two")
    sqs.send_message(QueueUrl=url, MessageBody="g1-m1", MessageGroupId="group-1")
    sqs.send_message(QueueUrl=url, MessageBody="g2-m1", MessageGroupId="group-2")
    sqs.send_message(QueueUrl=url, MessageBody="g1-m2", MessageGroupId="group-1")
    sqs.send_message(QueueUrl=url, MessageBody="g1-m3", MessageGroupId="group-1")
    # test_fifo_receive_message_group_id_ordering (LocalStack, recorded against AWS): group by group.
    assert [m["Body"] for m in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]] == [
        "g1-m1", "g1-m2", "g1-m3", "g2-m1"]


def test_fifo_groups_that_came_back_go_behind_a_group_that_waited(sqs):
    url = fifo(sqs, "order")
    for body, group in [("g1-m1", "group-1"), ("g2-m1", "group-2"), ("g2-m2", "group-2"), ("g3-m1", "group-3"),
                        ("g1-m2", "group-1")]:
        sqs.send_message(QueueUrl=url, MessageBody=body, MessageGroupId=group)
    first = [m["Body"] for m in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=3, VisibilityTimeout=0)["Messages"]]
    assert first == ["g1-m1", "g1-m2", "g2-m1"]
    # g3 never left; g1 and g2 came back together (their partitions' clocks decide which of the two is first).
    again = [m["Body"] for m in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=0)["Messages"]]
    assert again[0] == "g3-m1"
    assert again[1:] in (["g1-m1", "g1-m2", "g2-m1", "g2-m2"], ["g2-m1", "g2-m2", "g1-m1", "g1-m2"])


def test_no_message_is_taken_into_flight_that_the_answer_does_not_carry(sqs):
    url = sqs.create_queue(QueueName=unique("surplus"))["QueueUrl"]
    sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": str(i), "MessageBody": f"m{i}"} for i in range(8)])
    assert len(sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=1)["Messages"]) == 1
    assert attributes(sqs, url, "ApproximateNumberOfMessagesNotVisible") == {"ApproximateNumberOfMessagesNotVisible": "1"}
    assert len(sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=3)["Messages"]) == 3
    assert attributes(sqs, url, "ApproximateNumberOfMessagesNotVisible") == {"ApproximateNumberOfMessagesNotVisible": "4"}
    groups = fifo(sqs, "surplus")
    for group in ["A", "B", "C", "D", "E"]:
        sqs.send_message(QueueUrl=groups, MessageBody=group, MessageGroupId=group)
    assert len(sqs.receive_message(QueueUrl=groups, MaxNumberOfMessages=2)["Messages"]) == 2
    assert attributes(sqs, groups, "ApproximateNumberOfMessagesNotVisible") == {
        "ApproximateNumberOfMessagesNotVisible": "2"}


def test_a_long_poll_answers_when_a_message_arrives(sqs):
    url = sqs.create_queue(QueueName=unique("poll"))["QueueUrl"]
    sender = threading.Timer(1.0, lambda: sqs.send_message(QueueUrl=url, MessageBody="late"))
    sender.start()
    started = time.time()
    try:
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=20).get("Messages", [])
    finally:
        sender.cancel()
    assert [m["Body"] for m in got] == ["late"]
    assert time.time() - started < 15, "the poll waited for its whole 20 s although a message came after 1 s"
    # With messages already there, a long poll does not wait.
    sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": str(i), "MessageBody": f"m{i}"} for i in range(3)])
    assert len(sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=3, WaitTimeSeconds=20)["Messages"]) == 3
    # An empty queue answers empty after the wait.
    assert "Messages" not in sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1)


def test_a_retried_receive_attempt_gets_the_same_messages_back(sqs):
    url = fifo(sqs, "attempt")
    for body, group in [("a1", "A"), ("b1", "B"), ("c1", "C"), ("a2", "A")]:
        sqs.send_message(QueueUrl=url, MessageBody=body, MessageGroupId=group)
    first = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, ReceiveRequestAttemptId="try-1")["Messages"]
    again = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, ReceiveRequestAttemptId="try-1")["Messages"]
    assert sorted(m["Body"] for m in first) == ["a1", "a2", "b1", "c1"]
    assert [(m["MessageId"], m["ReceiptHandle"]) for m in again] == [(m["MessageId"], m["ReceiptHandle"]) for m in first]
    # Standard queues ignore the attempt id, as SQS does.
    standard = sqs.create_queue(QueueName=unique("attempt"))["QueueUrl"]
    sqs.send_message(QueueUrl=standard, MessageBody="x")
    assert len(sqs.receive_message(QueueUrl=standard, ReceiveRequestAttemptId="try-1")["Messages"]) == 1
    assert "Messages" not in sqs.receive_message(QueueUrl=standard, ReceiveRequestAttemptId="try-1")
