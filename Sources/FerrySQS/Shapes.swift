/// The request and response members of the SQS 2012-11-05 JSON model. Properties are the AWS member names in
/// lower camel case; `AWSJSON`'s key strategies turn them into AWS's names (`QueueUrl`, `MD5OfBody`,
/// `AWSAccountIds`), keeping the members AWS spells in lower case (`tags`, and `queueUrls` of
/// ListDeadLetterSourceQueues, here `lowercaseQueueUrls`). Every request member is optional; each operation
/// checks what it requires and answers AWS's `MissingParameter` otherwise.

public struct MessageAttributeValue: Codable, Sendable, Equatable {
    public var stringValue: String?
    /// Base64 in JSON.
    public var binaryValue: String?
    public var stringListValues: [String]?
    public var binaryListValues: [String]?
    public var dataType: String?

    public init(stringValue: String? = nil, binaryValue: String? = nil, dataType: String? = nil) {
        self.stringValue = stringValue
        self.binaryValue = binaryValue
        self.dataType = dataType
    }
}

public struct MessageSystemAttributeValue: Codable, Sendable, Equatable {
    public var stringValue: String?
    public var binaryValue: String?
    public var stringListValues: [String]?
    public var binaryListValues: [String]?
    public var dataType: String?
}

package struct CreateQueueInput: Codable {
    package var queueName: String?
    package var attributes: [String: String]?
    package var tags: [String: String]?
}
struct QueueURLOutput: Codable {
    var queueUrl: String
}
struct GetQueueURLInput: Codable {
    var queueName: String?
    var queueOwnerAWSAccountId: String?
}
struct ListQueuesInput: Codable {
    var queueNamePrefix: String?
    var nextToken: String?
    var maxResults: Int?
}
struct ListQueuesOutput: Codable {
    var queueUrls: [String]?
    var nextToken: String?
}
struct QueueURLInput: Codable {
    var queueUrl: String?
}
struct GetQueueAttributesInput: Codable {
    var queueUrl: String?
    var attributeNames: [String]?
}
struct AttributesOutput: Codable {
    var attributes: [String: String]?
}
struct SetQueueAttributesInput: Codable {
    var queueUrl: String?
    var attributes: [String: String]?
}

package struct SendMessageInput: Codable {
    package var queueUrl: String?
    package var messageBody: String?
    package var delaySeconds: Int?
    package var messageAttributes: [String: MessageAttributeValue]?
    package var messageSystemAttributes: [String: MessageSystemAttributeValue]?
    package var messageDeduplicationId: String?
    package var messageGroupId: String?
}

package struct SendMessageOutput: Codable {
    package var md5OfMessageBody: String?
    package var md5OfMessageAttributes: String?
    package var md5OfMessageSystemAttributes: String?
    package var messageId: String?
    package var sequenceNumber: String?
}

struct SendMessageBatchEntry: Codable {
    var id: String?
    var messageBody: String?
    var delaySeconds: Int?
    var messageAttributes: [String: MessageAttributeValue]?
    var messageSystemAttributes: [String: MessageSystemAttributeValue]?
    var messageDeduplicationId: String?
    var messageGroupId: String?
}

struct SendMessageBatchInput: Codable {
    var queueUrl: String?
    var entries: [SendMessageBatchEntry]?
}

struct SendMessageBatchResultEntry: Codable {
    var id: String
    var messageId: String
    var md5OfMessageBody: String
    var md5OfMessageAttributes: String?
    var md5OfMessageSystemAttributes: String?
    var sequenceNumber: String?
}

struct BatchResultErrorEntry: Codable, Equatable {
    var id: String
    var senderFault: Bool
    var code: String
    var message: String?
}

struct SendMessageBatchOutput: Codable {
    var successful: [SendMessageBatchResultEntry]
    var failed: [BatchResultErrorEntry]
}

struct ReceiveMessageInput: Codable {
    var queueUrl: String?
    var attributeNames: [String]?
    var messageSystemAttributeNames: [String]?
    var messageAttributeNames: [String]?
    var maxNumberOfMessages: Int?
    var visibilityTimeout: Int?
    var waitTimeSeconds: Int?
    var receiveRequestAttemptId: String?
}

struct MessageShape: Codable {
    var messageId: String
    var receiptHandle: String
    var md5OfBody: String
    var body: String
    var attributes: [String: String]?
    var md5OfMessageAttributes: String?
    var messageAttributes: [String: MessageAttributeValue]?
}

struct ReceiveMessageOutput: Codable {
    var messages: [MessageShape]?
}
struct DeleteMessageInput: Codable {
    var queueUrl: String?
    var receiptHandle: String?
}
struct DeleteMessageBatchEntry: Codable {
    var id: String?
    var receiptHandle: String?
}
struct DeleteMessageBatchInput: Codable {
    var queueUrl: String?
    var entries: [DeleteMessageBatchEntry]?
}
struct BatchIDEntry: Codable {
    var id: String
}
struct IDBatchOutput: Codable {
    var successful: [BatchIDEntry]
    var failed: [BatchResultErrorEntry]
}

struct ChangeMessageVisibilityInput: Codable {
    var queueUrl: String?
    var receiptHandle: String?
    var visibilityTimeout: Int?
}
struct ChangeMessageVisibilityBatchEntry: Codable {
    var id: String?
    var receiptHandle: String?
    var visibilityTimeout: Int?
}
struct ChangeMessageVisibilityBatchInput: Codable {
    var queueUrl: String?
    var entries: [ChangeMessageVisibilityBatchEntry]?
}

struct ListDeadLetterSourceQueuesInput: Codable {
    var queueUrl: String?
    var nextToken: String?
    var maxResults: Int?
}
package struct ListDeadLetterSourceQueuesOutput: Codable {
    package var lowercaseQueueUrls: [String]
    package var nextToken: String?
}

struct StartMessageMoveTaskInput: Codable {
    var sourceArn: String?
    var destinationArn: String?
    var maxNumberOfMessagesPerSecond: Int?
}
struct StartMessageMoveTaskOutput: Codable {
    var taskHandle: String
}
struct CancelMessageMoveTaskInput: Codable {
    var taskHandle: String?
}
struct CancelMessageMoveTaskOutput: Codable {
    var approximateNumberOfMessagesMoved: Int64
}
struct ListMessageMoveTasksInput: Codable {
    var sourceArn: String?
    var maxResults: Int?
}

struct MessageMoveTaskShape: Codable {
    var taskHandle: String?
    var status: String
    var sourceArn: String
    var destinationArn: String?
    var maxNumberOfMessagesPerSecond: Int?
    var approximateNumberOfMessagesMoved: Int64
    var approximateNumberOfMessagesToMove: Int64?
    var failureReason: String?
    var startedTimestamp: Int64
}

struct ListMessageMoveTasksOutput: Codable {
    var results: [MessageMoveTaskShape]
}

struct TagQueueInput: Codable {
    var queueUrl: String?
    var tags: [String: String]?
}
struct UntagQueueInput: Codable {
    var queueUrl: String?
    var tagKeys: [String]?
}
package struct ListQueueTagsOutput: Codable {
    package var tags: [String: String]?
}
struct AddPermissionInput: Codable {
    var queueUrl: String?
    var label: String?
    var awsAccountIds: [String]?
    var actions: [String]?
}
struct RemovePermissionInput: Codable {
    var queueUrl: String?
    var label: String?
}
struct EmptyOutput: Codable {}
