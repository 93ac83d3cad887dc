"""The console in headless Chromium against a real cluster (started by Tests/console/run).

Each test drives the page as an operator would and checks what it shows against what the SQS API says. Screenshots
of each page go to $FERRY_CONSOLE_SHOTS.
"""

import os
import subprocess
import time

import boto3
import pytest
from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException, NoSuchElementException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By

URL = os.environ["FERRY_CONSOLE_URL"]
SHOTS = os.environ["FERRY_CONSOLE_SHOTS"]
OWNER = (os.environ["AWS_ACCESS_KEY_ID"], os.environ["AWS_SECRET_ACCESS_KEY"])
WATCHER = tuple(os.environ["FERRY_SQS_READONLY_KEY"].split(":"))
ENDPOINT = URL.rsplit("/console", 1)[0]


@pytest.fixture(scope="module")
def sqs():
    return boto3.client("sqs", endpoint_url=ENDPOINT, region_name="us-east-1")


@pytest.fixture(scope="module")
def browser():
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,1000"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit()


def wait_for(condition, what, seconds=30):
    """Polls `condition` (bounded) until it returns a true value; fails naming `what`."""
    end = time.time() + seconds
    last = None
    while time.time() < end:
        try:
            last = condition()
            if last:
                return last
        except (StaleElementReferenceException, NoSuchElementException) as error:
            last = error
        time.sleep(0.25)
    raise AssertionError(f"timed out waiting for {what} (last: {last!r})")


def text(driver, css):
    return driver.find_element(By.CSS_SELECTOR, css).text


def click(driver, element_id):
    wait_for(lambda: driver.find_element(By.ID, element_id).click() or True, f"a click on #{element_id}")


def shot(driver, name):
    time.sleep(0.3)
    driver.save_screenshot(os.path.join(SHOTS, name))


def log_in(driver, key):
    driver.get(URL)
    wait_for(lambda: driver.find_element(By.ID, "login").is_displayed(), "the login form")
    for element_id, value in (("key-id", key[0]), ("key-secret", key[1])):
        field = driver.find_element(By.ID, element_id)
        field.clear()
        field.send_keys(value)
    return driver


def visible(sqs, url, attribute="ApproximateNumberOfMessages"):
    return int(sqs.get_queue_attributes(QueueUrl=url, AttributeNames=[attribute])["Attributes"][attribute])


def test_log_in_and_see_the_cluster(browser):
    log_in(browser, ("AKIAFERRYNOBODY00001", "not-a-key-of-this-cluster"))
    shot(browser, "01-login.png")
    click(browser, "login-button")
    wait_for(lambda: "Log in failed" in text(browser, "#banner"), "a refused login")
    log_in(browser, OWNER)
    click(browser, "login-button")
    wait_for(lambda: len(browser.find_elements(By.CSS_SELECTOR, "#nodes tbody tr[data-node]")) == 3, "3 nodes")
    wait_for(lambda: text(browser, "#tile-nodes .value") == "3 / 3", "every node answering")
    assert OWNER[0] in text(browser, "#who")
    assert not browser.find_element(By.ID, "login").is_displayed()
    rows = browser.find_elements(By.CSS_SELECTOR, "#nodes tbody tr[data-node]")
    assert all("ok" in row.text for row in rows), [row.text for row in rows]
    shot(browser, "02-cluster.png")
    browser.get(URL + "#partitions")
    wait_for(lambda: browser.find_elements(By.CSS_SELECTOR, "#partitions tbody tr[data-group]"), "the partitions")
    wait_for(lambda: browser.find_elements(By.CSS_SELECTOR, ".timeline circle"), "the leadership timeline")
    shot(browser, "03-partitions.png")


def test_a_queues_depth_changes_after_sends(browser, sqs):
    url = sqs.create_queue(QueueName="depth")["QueueUrl"]
    browser.get(URL + "#queue/depth")
    wait_for(lambda: text(browser, "#queue-name") == "depth", "the queue's page")
    wait_for(lambda: text(browser, "#tile-visible .value") == "0", "an empty queue")
    for i in range(7):
        sqs.send_message(QueueUrl=url, MessageBody=f"order {i}: two pallets of tea")
    wait_for(lambda: text(browser, "#tile-visible .value") == "7", "the depth after 7 sends")
    assert text(browser, "#tile-sent .value") == "7"
    shot(browser, "04-queue-depth.png")
    browser.get(URL + "#queues")
    wait_for(lambda: browser.find_elements(By.CSS_SELECTOR, '#queues tr[data-queue="depth"]'), "the queue list")
    row = browser.find_element(By.CSS_SELECTOR, '#queues tr[data-queue="depth"]').text
    assert " 7 " in f" {row} ", row
    shot(browser, "05-queues.png")


def test_peek_leaves_visibility_alone(browser, sqs):
    url = sqs.get_queue_url(QueueName="depth")["QueueUrl"]
    browser.get(URL + "#queue/depth")
    wait_for(lambda: text(browser, "#tile-visible .value") == "7", "the queue's page")
    # The oldest message ages with the clock, also while nothing is written to the queue.
    wait_for(lambda: text(browser, "#tile-oldest .value").endswith(" s")
             and int(text(browser, "#tile-oldest .value").split()[0]) >= 2, "the oldest message's age")
    click(browser, "peek")
    wait_for(lambda: len(browser.find_elements(By.CSS_SELECTOR, "#peek-table tbody tr")) == 7, "7 peeked messages")
    assert "two pallets of tea" in text(browser, "#peek-table")
    assert visible(sqs, url) == 7
    assert visible(sqs, url, "ApproximateNumberOfMessagesNotVisible") == 0
    shot(browser, "06-peek.png")


def test_start_a_redrive_and_see_it_finish(browser, sqs):
    dlq = sqs.create_queue(QueueName="jobs-dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    jobs = sqs.create_queue(
        QueueName="jobs",
        Attributes={"RedrivePolicy": f'{{"deadLetterTargetArn":"{dlq_arn}","maxReceiveCount":"1"}}'},
    )["QueueUrl"]
    for i in range(3):
        sqs.send_message(QueueUrl=jobs, MessageBody=f"job {i}")
    # Received once each and never deleted: the next receive past maxReceiveCount dead-letters them.
    got = 0
    for _ in range(20):
        got += len(sqs.receive_message(QueueUrl=jobs, MaxNumberOfMessages=10, VisibilityTimeout=1).get("Messages", []))
        if got >= 3:
            break
    assert got >= 3
    end = time.time() + 30
    while time.time() < end and visible(sqs, dlq) < 3:
        sqs.receive_message(QueueUrl=jobs, MaxNumberOfMessages=10, WaitTimeSeconds=1)
    assert visible(sqs, dlq) == 3

    browser.get(URL + "#queue/jobs-dlq")
    wait_for(lambda: text(browser, "#tile-visible .value") == "3", "3 dead letters on the DLQ's page")
    assert "Dead-letter queue of jobs" in text(browser, "#view")
    click(browser, "start-redrive")
    wait_for(lambda: "Redrive started" in text(browser, "#banner"), "the redrive's start")
    wait_for(lambda: "COMPLETED" in text(browser, "#move-tasks"), "the redrive's end", seconds=60)
    wait_for(lambda: text(browser, "#tile-visible .value") == "0", "an empty DLQ")
    assert "3 / 3" in text(browser, "#move-tasks")
    shot(browser, "07-redrive.png")
    wait_for(lambda: visible(sqs, jobs) == 3, "the messages back on jobs")


def test_fifo_groups_with_a_backlog(browser, sqs):
    url = sqs.create_queue(QueueName="orders.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
    for group, count in (("customer-1", 3), ("customer-2", 1), ("customer-3", 2)):
        for i in range(count):
            sqs.send_message(QueueUrl=url, MessageBody=f"{group} order {i}", MessageGroupId=group,
                             MessageDeduplicationId=f"{group}-{i}")
    # One message of customer-1 in flight: that group is blocked until it is deleted or comes back.
    got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=1, VisibilityTimeout=300, WaitTimeSeconds=5,
                               AttributeNames=["All"])
    assert got["Messages"][0]["Attributes"]["MessageGroupId"] == "customer-1"
    browser.get(URL + "#queue/orders.fifo")
    wait_for(lambda: text(browser, "#tile-visible .value") == "5", "the FIFO queue's page")
    click(browser, "show-groups")
    wait_for(lambda: len(browser.find_elements(By.CSS_SELECTOR, "#groups-table tbody tr[data-group-id]")) == 3,
             "three groups")
    rows = [row.text for row in browser.find_elements(By.CSS_SELECTOR, "#groups-table tbody tr[data-group-id]")]
    assert rows[0].startswith("customer-1 3 1 (blocked)"), rows
    assert rows[1].startswith("customer-3 2 0"), rows
    assert rows[2].startswith("customer-2 1 0"), rows
    shot(browser, "08-fifo-groups.png")


def test_a_read_only_key_sees_but_is_refused_actions(browser, sqs):
    url = sqs.get_queue_url(QueueName="depth")["QueueUrl"]
    click(browser, "logout")
    log_in(browser, WATCHER)
    click(browser, "login-button")
    wait_for(lambda: "read-only" in text(browser, "#who"), "the read-only key logged in")
    browser.get(URL + "#queue/depth")
    wait_for(lambda: text(browser, "#tile-visible .value") == "7", "the queue's depth, seen with a read-only key")
    click(browser, "purge")
    wait_for(lambda: browser.switch_to.alert, "the purge confirmation").accept()
    wait_for(lambda: "AccessDenied" in text(browser, "#banner"), "the purge refused")
    assert "read-only" in text(browser, "#banner")
    shot(browser, "09-read-only-refused.png")
    click(browser, "peek")
    wait_for(lambda: "AccessDenied" in text(browser, "#banner") and "peek" in text(browser, "#banner"), "peek refused")
    assert visible(sqs, url) == 7


def test_a_node_down_is_shown_and_its_leaderships_move(browser):
    # Still logged in with the read-only key: looking needs no more.
    root = os.path.join(os.path.dirname(__file__), "..", "..")
    subprocess.run([os.path.join(root, "Cluster", "local"), "kill", "3"], check=True, capture_output=True)
    killed_ms = time.time() * 1000
    try:
        browser.get(URL + "#cluster")
        wait_for(lambda: text(browser, "#tile-nodes .value") == "2 / 3", "two nodes answering")
        row = browser.find_element(By.CSS_SELECTOR, '#nodes tr[data-node="3"]').text
        assert "unreachable" in row, row
        shot(browser, "10-node-down.png")
        browser.get(URL + "#partitions")

        def moved():
            rows = browser.find_elements(By.CSS_SELECTOR, "#partitions tbody tr[data-group]")
            leaders = [row.find_elements(By.CSS_SELECTOR, "td")[3].text for row in rows]
            return rows and all(leader in ("1", "2") for leader in leaders)

        wait_for(moved, "every partition led by node 1 or 2", seconds=45)
        assert browser.find_elements(By.CSS_SELECTOR, "#leadership tbody tr"), "no leadership change listed"
        assert not browser.find_element(By.ID, "banner").is_displayed(), "an earlier page's message is still shown"
        shot(browser, "11-leaderships-moved.png")
    finally:
        subprocess.run([os.path.join(root, "Cluster", "local"), "start", "3"], capture_output=True)
    assert time.time() * 1000 - killed_ms < 120_000
