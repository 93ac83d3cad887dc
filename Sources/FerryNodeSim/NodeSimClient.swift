import FerryModel
import FerryQueue
import FerryRaft
import FerryWire
import NIOCore

/// A simulated client as the real ones behave: one request at a time, sent to the node it believes leads,
/// following `notLeader` hints, repeating a request whose outcome is unknown (no answer within a second, or
/// `timeout`) with the same deduplication id, and taking a definitive refusal as final.
final class NodeSimClient {
    enum Role {
        /// Creates the queues, then (with the simulation's node faults) creates and deletes a scratch queue over
        /// and over until the load ends: groups open and close on every node while nodes crash and pause.
        case admin
        /// Sends its group's messages one after another: body and deduplication id `<group>-<n>`.
        case producer(group: String)
        /// Receives from one partition (short and long polls) and deletes what it got, but now and then leaves a
        /// batch in flight: a message received past the queue's maxReceiveCount (2) goes to the dead-letter queue.
        case consumer(partition: UInt32)
        /// Receives from the dead-letter queue and deletes.
        case deadLetterConsumer
    }

    let id: Int
    let role: Role
    let nodeCount: Int
    var target: UInt64 = 1
    /// The number of the request in flight: an answer to an older one is ignored.
    var attempt = 0
    var pending: ClientRequest?
    var done = false
    // Producer: the message in flight.
    var sequence = 0
    // Consumer: handles to delete next.
    var toDelete: [ReceiptHandle] = []
    // Admin: whether the scratch queue exists (as far as the admin knows).
    var scratchExists = false

    init(id: Int, role: Role, nodes: Int) {
        self.id = id
        self.role = role
        nodeCount = nodes
        target = UInt64(1 + id % nodes)
    }

    func send(_ request: ClientRequest, in simulation: NodeSimulation, afterMs delay: Int64 = 1) {
        attempt += 1
        pending = request
        simulation.schedule(.call(to: target, request: request, client: id, attempt: attempt), afterMs: delay)
        // No answer within a second: the outcome is unknown.
        simulation.schedule(.answer(client: id, attempt: attempt, nil), afterMs: delay + 1_000)
    }

    func nextNode() {
        target = target % UInt64(nodeCount) + 1
    }

    /// Starts the client's next request.
    func step(in simulation: NodeSimulation) {
        guard !done else { return }
        switch role {
        case .admin:
            if simulation.queueCreated {
                guard simulation.config.nodeFaults, simulation.nowMs < simulation.config.loadMs else {
                    done = true
                    return
                }
                return send(
                    scratchExists
                        ? .deleteQueue(name: simulation.scratchQueueName)
                        : .createQueue(name: simulation.scratchQueueName, partitions: 2, attributes: QueueAttributes()),
                    in: simulation
                )
            }
            guard simulation.deadLetterQueueCreated else {
                return send(
                    .createQueue(name: simulation.deadLetterQueueName, partitions: 1, attributes: QueueAttributes()),
                    in: simulation
                )
            }
            var attributes = QueueAttributes()
            attributes.redrivePolicy = RedrivePolicy(
                deadLetterQueue: simulation.deadLetterQueueName,
                maxReceiveCount: 2
            )
            send(
                .createQueue(
                    name: simulation.queueName,
                    partitions: simulation.config.partitions,
                    attributes: attributes
                ),
                in: simulation
            )
        case .producer(let group):
            guard simulation.queueCreated else { return simulation.schedule(.clientStep(id), afterMs: 50) }
            guard simulation.nowMs < simulation.config.loadMs else {
                done = true
                return
            }
            let name = "\(group)-\(sequence)"
            let request = SendRequest(body: ByteBuffer(string: name), groupID: group, deduplicationID: name)
            simulation.checker.sending(name, group: group, sequence: sequence)
            let partition = Catalog.partition(forGroup: group, partitions: simulation.config.partitions)
            send(.send(queue: simulation.queueName, partition: partition, requests: [request]), in: simulation)
        case .deadLetterConsumer:
            consume(simulation.deadLetterQueueName, partition: 0, in: simulation) { 100 }
        case .consumer(let partition):
            let waits: [UInt32] = [0, 0, 100, 500]
            consume(simulation.queueName, partition: partition, in: simulation) {
                waits[simulation.rng.uniform(0..<waits.count)]
            }
        }
    }

    /// A consumer's next request: the last batch's delete, else a receive that long-polls `waitMs()` (asked
    /// only then). The last second of the run is quiet, so that the replicas settle before they are compared.
    private func consume(
        _ queue: String,
        partition: UInt32,
        in simulation: NodeSimulation,
        waitMs: () -> UInt32
    ) {
        guard simulation.queueCreated else { return simulation.schedule(.clientStep(id), afterMs: 50) }
        guard simulation.nowMs < simulation.config.loadMs + simulation.config.drainMs - 1_000 else {
            done = true
            return
        }
        if !toDelete.isEmpty {
            return send(.delete(queue: queue, partition: partition, handles: toDelete), in: simulation)
        }
        let request = ReceiveRequest(maxMessages: 5, visibilityTimeoutSeconds: 1)
        send(.receive(queue: queue, partition: partition, request: request, waitMs: waitMs()), in: simulation)
    }

    func again(in simulation: NodeSimulation, afterMs delay: Int64) {
        guard let pending else { return }
        send(pending, in: simulation, afterMs: delay)
    }

    func answered(attempt: Int, _ response: ClientResponse?, in simulation: NodeSimulation) {
        guard attempt == self.attempt, let request = pending else { return }
        guard let response else {
            // Unknown outcome: the same request again (a send keeps its deduplication id), elsewhere.
            nextNode()
            return again(in: simulation, afterMs: 10)
        }
        if case .error(let error) = response {
            switch error.code {
            case .notLeader:
                if error.leaderHint != 0 { target = error.leaderHint } else { nextNode() }
                return again(in: simulation, afterMs: 5)
            case .unavailable, .throttled, .timeout, .storageFull:
                if error.code == .unavailable || error.code == .storageFull { nextNode() }
                return again(in: simulation, afterMs: 20)
            case .queueNotFound where request == .deleteQueue(name: simulation.scratchQueueName):
                // A repeated delete whose first try went through.
                scratchExists = false
                pending = nil
                return simulation.schedule(.clientStep(id), afterMs: simulation.rng.uniform(Int64(20)...Int64(200)))
            case .queueNotFound:
                if case .producer = role, case .send(_, _, let requests) = request {
                    // Definitive: this message was not enqueued, and never will be.
                    simulation.checker.failed(requests[0].deduplicationID!)
                    sequence += 1
                    pending = nil
                    return simulation.schedule(.clientStep(id), afterMs: 20)
                }
                return again(in: simulation, afterMs: 50)
            default:
                simulation.checker.violations.append("client \(id) got \(error) for \(request)")
                pending = nil
                return simulation.schedule(.clientStep(id), afterMs: 50)
            }
        }
        pending = nil
        switch (role, response) {
        case (.admin, .queue(let queue)):
            if queue.name == simulation.deadLetterQueueName {
                simulation.deadLetterQueueCreated = true
                simulation.schedule(.clientStep(id), afterMs: 1)
            } else if queue.name == simulation.scratchQueueName {
                scratchExists = true
                simulation.faults["queue recreated", default: 0] += 1
                simulation.schedule(.clientStep(id), afterMs: simulation.rng.uniform(Int64(20)...Int64(200)))
            } else {
                simulation.queueCreated = true
                if simulation.config.nodeFaults {
                    simulation.schedule(.clientStep(id), afterMs: simulation.rng.uniform(Int64(20)...Int64(200)))
                } else {
                    done = true
                }
            }
        case (.admin, .done):
            scratchExists = false
            simulation.schedule(.clientStep(id), afterMs: simulation.rng.uniform(Int64(20)...Int64(200)))
        case (.producer, .sent(let outcomes)):
            guard case .send(_, _, let requests) = request, let outcome = outcomes.first else { break }
            switch outcome {
            case .success(.enqueued(let position)), .success(.duplicate(let position)):
                simulation.checker.acknowledged(requests[0].deduplicationID!, at: position, nowMs: simulation.nowMs)
            case .success(.duplicateResultForgotten):
                simulation.checker.violations.append("\(requests[0].deduplicationID!): a result forgotten")
            case .failure(let error):
                simulation.checker.violations.append("\(requests[0].deduplicationID!) refused: \(error)")
            }
            sequence += 1
            simulation.schedule(.clientStep(id), afterMs: simulation.rng.uniform(Int64(1)...Int64(20)))
        case (.consumer, .received(let deliveries)):
            for delivery in deliveries { simulation.checker.delivered(delivery, nowMs: simulation.nowMs) }
            // One batch in ten is left in flight until its visibility timeout (until the load ends).
            let abandon = simulation.nowMs < simulation.config.loadMs && simulation.rng.chance(percent: 10)
            toDelete = abandon ? [] : deliveries.map(\.handle)
            simulation.schedule(.clientStep(id), afterMs: deliveries.isEmpty ? 20 : 1)
        case (.deadLetterConsumer, .received(let deliveries)):
            for delivery in deliveries { simulation.checker.deadLettered(delivery) }
            toDelete = deliveries.map(\.handle)
            simulation.schedule(.clientStep(id), afterMs: deliveries.isEmpty ? 20 : 1)
        case (.consumer, .deleted(let results)), (.deadLetterConsumer, .deleted(let results)):
            if case .delete(_, _, let handles) = request {
                for (handle, result) in zip(handles, results) {
                    guard case .success = result else { continue }
                    if case .deadLetterConsumer = role {
                        simulation.checker.deletedDeadLetter(handle.position)
                    } else {
                        simulation.checker.deleted(handle.position)
                    }
                }
            }
            toDelete = []
            simulation.schedule(.clientStep(id), afterMs: 1)
        default:
            simulation.checker.violations.append("client \(id) got an unexpected answer \(response) to \(request)")
            simulation.schedule(.clientStep(id), afterMs: 50)
        }
    }
}
