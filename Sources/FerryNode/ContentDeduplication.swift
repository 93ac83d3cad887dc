import FerryCrypto
import FerryModel
import NIOCore

/// Content-based deduplication (DESIGN §9): the node computes the SHA-256 of a FIFO message's body before it
/// proposes the send, so the entry carries an explicit deduplication id and FerryQueue stays free of libcrypto.
enum ContentDeduplication {
    /// The lowercase hex SHA-256 of the readable bytes (64 characters, within SQS's 128).
    static func sha256Hex(_ bytes: ByteBuffer) -> String {
        Digests.hex(bytes.withUnsafeReadableBytes { Digests.sha256($0) })
    }

    /// Fills in the deduplication id of FIFO sends that have none when the queue deduplicates by content.
    static func fill(_ requests: [SendRequest], attributes: QueueAttributes, kind: QueueKind) -> [SendRequest] {
        guard kind == .fifo, attributes.contentBasedDeduplication else { return requests }
        return requests.map { request in
            guard request.deduplicationID == nil else { return request }
            var filled = request
            filled.deduplicationID = sha256Hex(request.body)
            return filled
        }
    }
}
