import FerryModel
import FerryQueue
import FerryRaft
import FerryRouter
import FerryWire

/// The outbox pump (DESIGN §9): dead letters and redrives leave a partition for their destination partition.
extension NodeRuntime {
    /// A leader sends its outbox (dead letters, redrives) to the destination partitions' leaders, oldest first,
    /// one batch at a time per group, and acknowledges the moves once the destination committed them
    /// (DESIGN §9). The destination deduplicates by origin, so a batch repeated after a crash is harmless.
    func pumpOutbox(_ group: GroupDriver, catalog: Catalog) {
        guard let pending = group.partition?.pendingMoveCount, pending > 0 else { return }
        let now = nowMs
        if let sent = movesInFlight[group.groupID], now - sent < 2_000 { return }
        let moves = group.partition!.pendingMoves(limit: QueueLimits.maxBatchEntries)
        guard let first = moves.first, let destination = catalog.queues[first.destination] else { return }
        let partitions = UInt32(destination.partitions.count)
        func partition(of move: OutboxMove) -> UInt32 {
            move.request.groupID.map { Catalog.partition(forGroup: $0, partitions: partitions) }
                ?? UInt32(move.id % UInt64(partitions))
        }
        let target = partition(of: first)
        let batch = Array(moves.prefix { $0.destination == first.destination && partition(of: $0) == target })
        let placed = destination.partitions[Int(target)]
        let ids = batch.map(\.id)
        movesInFlight[group.groupID] = now
        if let local = groups[placed.groupID], local.isLeader {
            let source = group.groupID
            propose(.send(batch.map(\.request)), to: local, refused: { _ in }) { [weak self] result in
                guard case .queue(.sent(let outcomes))? = result, outcomes.allSatisfy({ (try? $0.get()) != nil }) else {
                    self?.handle(.movesForwarded(group: source, ids: nil))
                    return
                }
                self?.handle(.movesForwarded(group: source, ids: ids))
            }
            return
        }
        let leader = groups[placed.groupID]?.leader ?? placed.preferredLeader
        let node = leader != 0 ? leader : placed.preferredLeader
        guard node != config.nodeID, let forwarder else { return }
        // One attempt over the peer connection; an unanswered batch is sent again after 2 s (the outbox pump's
        // own retry), a refusal's hint is learnt from the metadata by then.
        let source = group.groupID
        let request = ClientRequest.send(queue: destination.name, partition: target, requests: batch.map(\.request))
        forwarder.start(request, at: .node(node), timeoutMs: 2_000) { [mailbox] result in
            guard case .success(.sent(let outcomes)) = result, outcomes.allSatisfy({ (try? $0.get()) != nil }) else {
                return mailbox.post(.movesForwarded(group: source, ids: nil))
            }
            mailbox.post(.movesForwarded(group: source, ids: ids))
        }
    }
}
