import FerryNet
import FerryWire
import NIOCore
import NIOPosix

/// Sends outbox moves to the leaders of destination partitions on other nodes. Runs its blocking client calls
/// on its own thread and reports each batch's outcome to the Raft thread through the mailbox.
final class MoveForwarder: @unchecked Sendable {
    let mailbox: Mailbox
    let group: any EventLoopGroup
    let pool = NIOThreadPool(numberOfThreads: 1)
    /// Touched only on the pool's thread.
    private var connections: [UInt64: Connection] = [:]

    init(mailbox: Mailbox, group: any EventLoopGroup) {
        self.mailbox = mailbox
        self.group = group
        pool.start()
    }

    func forward(_ request: ClientRequest, to member: MemberConfig, sourceGroup: UInt64, ids: [UInt64]) {
        pool.submit { [self] _ in
            var delivered: [UInt64]?
            do {
                let connection: Connection
                if let open = connections[member.id], open.isActive {
                    connection = open
                } else {
                    connection = try Connection(
                        host: member.host,
                        port: Int(member.clientPort),
                        group: group,
                        timeoutMs: 500
                    )
                    connections[member.id] = connection
                }
                if case .sent(let outcomes) = try connection.call(request, timeoutMs: 2_000),
                    outcomes.allSatisfy({ (try? $0.get()) != nil })
                {
                    delivered = ids
                }
            } catch {
                connections[member.id] = nil
            }
            mailbox.post(.movesForwarded(group: sourceGroup, ids: delivered))
        }
    }

    func stop() {
        try? pool.syncShutdownGracefully()
        for connection in connections.values { connection.close() }
    }
}
