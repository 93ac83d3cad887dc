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
package struct QueueURLOutput: Codable {
    package var queueUrl: String
}
package struct GetQueueURLInput: Codable {
    package var queueName: String?
    package var queueOwnerAWSAccountId: String?
}
package struct ListQueuesInput: Codable {
    package var queueNamePrefix: String?
    package var nextToken: String?
    package var maxResults: Int?
}
package struct ListQueuesOutput: Codable {
    package var queueUrls: [String]?
    package var nextToken: String?
}
package struct QueueURLInput: Codable {
    package var queueUrl: String?
}
package struct GetQueueAttributesInput: Codable {
    package var queueUrl: String?
    package var attributeNames: [String]?
}
package struct AttributesOutput: Codable {
    package var attributes: [String: String]?
}
package struct SetQueueAttributesInput: Codable {
    package var queueUrl: String?
    package var attributes: [String: String]?
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

package struct SendMessageBatchEntry: Codable {
    package var id: String?
    package var messageBody: String?
    package var delaySeconds: Int?
    package var messageAttributes: [String: MessageAttributeValue]?
    package var messageSystemAttributes: [String: MessageSystemAttributeValue]?
    package var messageDeduplicationId: String?
    package var messageGroupId: String?
}

package struct SendMessageBatchInput: Codable {
    package var queueUrl: String?
    package var entries: [SendMessageBatchEntry]?
}

package struct SendMessageBatchResultEntry: Codable {
    package var id: String
    package var messageId: String
    package var md5OfMessageBody: String
    package var md5OfMessageAttributes: String?
    package var md5OfMessageSystemAttributes: String?
    package var sequenceNumber: String?
}

package struct BatchResultErrorEntry: Codable, Equatable {
    package var id: String
    package var senderFault: Bool
    package var code: String
    package var message: String?
}

package struct SendMessageBatchOutput: Codable {
    package var successful: [SendMessageBatchResultEntry]
    package var failed: [BatchResultErrorEntry]
}

package struct ReceiveMessageInput: Codable {
    package var queueUrl: String?
    package var attributeNames: [String]?
    package var messageSystemAttributeNames: [String]?
    package var messageAttributeNames: [String]?
    package var maxNumberOfMessages: Int?
    package var visibilityTimeout: Int?
    package var waitTimeSeconds: Int?
    package var receiveRequestAttemptId: String?
}

package struct MessageShape: Codable {
    package var messageId: String
    package var receiptHandle: String
    package var md5OfBody: String
    package var body: String
    package var attributes: [String: String]?
    package var md5OfMessageAttributes: String?
    package var messageAttributes: [String: MessageAttributeValue]?
}

package struct ReceiveMessageOutput: Codable {
    package var messages: [MessageShape]?
}
package struct DeleteMessageInput: Codable {
    package var queueUrl: String?
    package var receiptHandle: String?
}
package struct DeleteMessageBatchEntry: Codable {
    package var id: String?
    package var receiptHandle: String?
}
package struct DeleteMessageBatchInput: Codable {
    package var queueUrl: String?
    package var entries: [DeleteMessageBatchEntry]?
}
package struct BatchIDEntry: Codable {
    package var id: String
}
package struct IDBatchOutput: Codable {
    package var successful: [BatchIDEntry]
    package var failed: [BatchResultErrorEntry]
}

package struct ChangeMessageVisibilityInput: Codable {
    package var queueUrl: String?
    package var receiptHandle: String?
    package var visibilityTimeout: Int?
}
package struct ChangeMessageVisibilityBatchEntry: Codable {
    package var id: String?
    package var receiptHandle: String?
    package var visibilityTimeout: Int?
}
package struct ChangeMessageVisibilityBatchInput: Codable {
    package var queueUrl: String?
    package var entries: [ChangeMessageVisibilityBatchEntry]?
}

package struct ListDeadLetterSourceQueuesInput: Codable {
    package var queueUrl: String?
    package var nextToken: String?
    package var maxResults: Int?
}
package struct ListDeadLetterSourceQueuesOutput: Codable {
    package var lowercaseQueueUrls: [String]
    package var nextToken: String?
}

package struct StartMessageMoveTaskInput: Codable {
    package var sourceArn: String?
    package var destinationArn: String?
    package var maxNumberOfMessagesPerSecond: Int?
}
package struct StartMessageMoveTaskOutput: Codable {
    package var taskHandle: String
}
package struct CancelMessageMoveTaskInput: Codable {
    package var taskHandle: String?
}
package struct CancelMessageMoveTaskOutput: Codable {
    package var approximateNumberOfMessagesMoved: Int64
}
package struct ListMessageMoveTasksInput: Codable {
    package var sourceArn: String?
    package var maxResults: Int?
}

package struct MessageMoveTaskShape: Codable {
    package var taskHandle: String?
    package var status: String
    package var sourceArn: String
    package var destinationArn: String?
    package var maxNumberOfMessagesPerSecond: Int?
    package var approximateNumberOfMessagesMoved: Int64
    package var approximateNumberOfMessagesToMove: Int64?
    package var failureReason: String?
    package var startedTimestamp: Int64
}

package struct ListMessageMoveTasksOutput: Codable {
    package var results: [MessageMoveTaskShape]
}

package struct TagQueueInput: Codable {
    package var queueUrl: String?
    package var tags: [String: String]?
}
package struct UntagQueueInput: Codable {
    package var queueUrl: String?
    package var tagKeys: [String]?
}
package struct ListQueueTagsOutput: Codable {
    package var tags: [String: String]?
}
package struct AddPermissionInput: Codable {
    package var queueUrl: String?
    package var label: String?
    package var awsAccountIds: [String]?
    package var actions: [String]?
}
package struct RemovePermissionInput: Codable {
    package var queueUrl: String?
    package var label: String?
}
package struct EmptyOutput: Codable {
    package init() {}
}
