import FerrySQS
import Testing

/// Queue policies as AWS evaluates them, for the subset queues use; documents outside it are refused with the
/// reason when they are set.
@Suite struct QueuePolicyTests {
    static let queue = "arn:aws:sqs:us-east-1:111111111111:orders.fifo"

    static func request(
        _ account: String,
        _ action: String,
        key: String = "AKFROTHER0000000000",
        context: [String: String] = [:]
    )
        -> QueuePolicy.Request
    {
        QueuePolicy.Request(
            account: account,
            principalARN: "arn:aws:iam::\(account):user/\(key)",
            action: action,
            resource: queue,
            context: context
        )
    }

    /// What AddPermission writes: account principals, `SQS:` actions, the queue's ARN.
    @Test func anAddPermissionStatementAllowsItsAccountsTheirActions() throws {
        let policy = try QueuePolicy.parse(
            #"""
            {"Version": "2012-10-17", "Id": "arn:aws:sqs:us-east-1:111111111111:orders.fifo/SQSDefaultPolicy",
             "Statement": [{"Sid": "senders", "Effect": "Allow",
               "Principal": {"AWS": ["arn:aws:iam::222222222222:root", "333333333333"]},
               "Action": ["SQS:SendMessage", "SQS:GetQueueUrl"], "Resource": "arn:aws:sqs:us-east-1:111111111111:orders.fifo"}]}
            """#
        )
        #expect(policy.evaluate(Self.request("222222222222", "SendMessage")) == .allowed(sid: "senders"))
        #expect(policy.evaluate(Self.request("333333333333", "GetQueueUrl")) == .allowed(sid: "senders"))
        #expect(policy.evaluate(Self.request("222222222222", "ReceiveMessage")) == .notApplicable)
        #expect(policy.evaluate(Self.request("444444444444", "SendMessage")) == .notApplicable)
    }

    /// An explicit Deny wins over every Allow, whatever their order.
    @Test func anExplicitDenyWins() throws {
        let policy = try QueuePolicy.parse(
            #"""
            {"Statement": [
               {"Sid": "all", "Effect": "Allow", "Principal": "*", "Action": "sqs:*", "Resource": "*"},
               {"Sid": "no-purge", "Effect": "Deny", "Principal": {"AWS": "*"}, "Action": "sqs:Purge*",
                "Resource": "arn:aws:sqs:*:111111111111:*"}]}
            """#
        )
        #expect(policy.evaluate(Self.request("222222222222", "SendMessage")) == .allowed(sid: "all"))
        #expect(policy.evaluate(Self.request("111111111111", "PurgeQueue")) == .denied(sid: "no-purge"))
    }

    /// Wildcards: `*` and `?` in actions (any case) and in each part of a resource ARN, which a `*` never crosses.
    @Test func wildcardsMatchWithinTheirPart() throws {
        let policy = try QueuePolicy.parse(
            #"""
            {"Statement": {"Effect": "Allow", "Principal": "*", "Action": ["sqs:Receive*", "SQS:DeleteMessag?"],
              "Resource": "arn:aws:sqs:us-east-?:111111111111:orders*"}}
            """#
        )
        #expect(policy.evaluate(Self.request("2", "ReceiveMessage")) == .allowed(sid: nil))
        #expect(policy.evaluate(Self.request("2", "DeleteMessage")) == .allowed(sid: nil))
        #expect(policy.evaluate(Self.request("2", "DeleteMessageBatch")) == .notApplicable)
        #expect(policy.evaluate(Self.request("2", "SendMessage")) == .notApplicable)
        #expect(QueuePolicy.arnLike("arn:aws:sqs:*:111111111111:orders*", Self.queue))
        #expect(!QueuePolicy.arnLike("arn:aws:sqs:*", Self.queue), "a * does not cross the ARN's parts")
        #expect(QueuePolicy.like("a*b?d", "axxbcd") && !QueuePolicy.like("a*b?d", "axxbd"))
    }

    /// NotAction applies to every action but those named; a key's ARN is a principal of its own.
    @Test func notActionAndKeyPrincipals() throws {
        let policy = try QueuePolicy.parse(
            #"""
            {"Statement": [{"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::222222222222:user/AKFRREADER*"},
              "NotAction": ["sqs:DeleteQueue", "sqs:PurgeQueue"], "Resource": "*"}]}
            """#
        )
        #expect(
            policy.evaluate(Self.request("222222222222", "ReceiveMessage", key: "AKFRREADER000000001"))
                == .allowed(sid: nil)
        )
        #expect(
            policy.evaluate(Self.request("222222222222", "PurgeQueue", key: "AKFRREADER000000001")) == .notApplicable
        )
        #expect(
            policy.evaluate(Self.request("222222222222", "ReceiveMessage", key: "AKFRWRITER000000001"))
                == .notApplicable
        )
    }

    /// Conditions on aws:SourceArn and aws:SourceAccount: a positive operator needs the key unless IfExists; a
    /// negated one holds when the key is absent.
    @Test func conditionsOnSourceArnAndSourceAccount() throws {
        let policy = try QueuePolicy.parse(
            #"""
            {"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "sqs:SendMessage", "Resource": "*",
              "Condition": {"ArnLike": {"aws:SourceArn": "arn:aws:sns:us-east-1:222222222222:*"},
                            "StringEquals": {"aws:SourceAccount": ["222222222222", "333333333333"]}}}]}
            """#
        )
        let fromTopic = [
            "aws:sourcearn": "arn:aws:sns:us-east-1:222222222222:alerts", "aws:sourceaccount": "222222222222",
        ]
        #expect(policy.evaluate(Self.request("9", "SendMessage", context: fromTopic)) == .allowed(sid: nil))
        var otherTopic = fromTopic
        otherTopic["aws:sourcearn"] = "arn:aws:sns:us-east-1:444444444444:alerts"
        #expect(policy.evaluate(Self.request("9", "SendMessage", context: otherTopic)) == .notApplicable)
        #expect(policy.evaluate(Self.request("9", "SendMessage")) == .notApplicable, "no source: the condition fails")
        #expect(QueuePolicy.condition("StringNotEquals", ["a"], nil))
        #expect(QueuePolicy.condition("ArnLikeIfExists", ["arn:aws:sns:*:*:*"], nil))
        #expect(!QueuePolicy.condition("ArnLike", ["arn:aws:sns:*:*:*"], nil))
    }

    /// Documents outside the subset are refused with the reason, naming the statement.
    @Test func malformedDocumentsAreRefusedWithTheirReason() {
        func reason(_ text: String) -> String? {
            do {
                _ = try QueuePolicy.parse(text)
                return nil
            } catch {
                return error.reason
            }
        }
        let statement = #""Effect": "Allow", "Principal": "*", "Action": "sqs:SendMessage", "Resource": "*""#
        #expect(reason("[]") == "not a JSON object")
        #expect(reason(#"{"Statement": []}"#) == "Statement is empty")
        #expect(
            reason(#"{"Version": "2020-01-01", "Statement": {\#(statement)}}"#)
                == "Version must be 2012-10-17 or 2008-10-17"
        )
        #expect(reason(#"{"Statment": {\#(statement)}}"#) == "unknown top-level field Statment")
        #expect(
            reason(#"{"Statement": {"Effect": "Permit", "Principal": "*", "Action": "sqs:*", "Resource": "*"}}"#)
                == "statement 1: Effect must be Allow or Deny"
        )
        #expect(
            reason(#"{"Statement": [{\#(statement)}, {"Effect": "Allow", "Action": "sqs:*", "Resource": "*"}]}"#)
                == "statement 2: Principal is missing or not \"*\" or {\"AWS\": ...}"
        )
        #expect(
            reason(#"{"Statement": {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "*"}}"#)
                == "statement 1: action s3:GetObject is not an SQS action (sqs:...)"
        )
        #expect(
            reason(#"{"Statement": {"Effect": "Allow", "Principal": "*", "Action": "sqs:*"}}"#)
                == "statement 1: Resource must be a string or a list of strings"
        )
        #expect(
            reason(
                #"{"Statement": {"Effect": "Allow", "NotPrincipal": {"AWS": "1"}, "Action": "sqs:*", "Resource": "*"}}"#
            ) == "statement 1: NotPrincipal is not supported"
        )
        #expect(
            reason(#"{"Statement": {\#(statement), "Condition": {"IpAddress": {"aws:SourceIp": "1.2.3.4"}}}}"#)
                == "statement 1: condition operator IpAddress is not supported"
        )
        #expect(
            reason(#"{"Statement": {\#(statement), "Condition": {"StringEquals": {"aws:username": "x"}}}}"#)
                == "statement 1: condition key aws:username is not supported (aws:SourceArn, aws:SourceAccount)"
        )
    }
}
