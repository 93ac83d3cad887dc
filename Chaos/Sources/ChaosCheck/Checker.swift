/// A broken promise found in a history.
public struct Violation: Sendable, Hashable, CustomStringConvertible {
    public enum Kind: String, Sendable, CaseIterable, Codable {
        /// An acknowledged send neither deleted by a consumer nor moved to the dead-letter queue.
        case lost
        /// A delivery of a message that was never sent, or whose every send failed definitively.
        case phantom
        /// One deduplication id (or one producer-session message) enqueued twice inside the window.
        case duplicate
        /// A repeat inside the window answered with another message id than the first send.
        case differentID
        /// A group's message delivered before an earlier message of the group.
        case order
        /// A group's message delivered while an earlier one was in flight (received, not deleted).
        case inFlight
        /// A message delivered again after its delete succeeded.
        case redelivered
        /// A message in the dead-letter queue more than once.
        case deadLetterTwice
        /// A producer session's messages enqueued out of the producer's order.
        case sessionOrder
        /// Sends not acknowledged for longer than the fault kind's bound.
        case unavailable
        /// Replicas of a partition with different state at the same applied index, one left behind, or one that
        /// gave no state at all after the heal.
        case replicasDiverge
        /// Two different messages acknowledged (or one acknowledged, another delivered) at one log position: an
        /// acknowledged entry was overwritten, as when a leader acknowledges what it alone holds.
        case overwritten
    }

    public var kind: Kind
    public var detail: String

    public var description: String { "\(kind.rawValue): \(detail)" }
}

/// What a run did and what broke: the table of the closing note.
public struct CheckReport: Sendable {
    public var operations = 0
    public var faultsByKind: [String: Int] = [:]
    public var acknowledgedSends = 0
    public var deliveries = 0
    public var deadLettered = 0
    /// Acknowledged messages neither deleted with an answer nor dead-lettered, whose last delivery was followed
    /// by a delete that got no answer and which were never seen again: the delete may well have taken effect
    /// (an unanswered operation may or may not have happened), so they are not proven losses.
    public var fateUnknown = 0
    public var violations: [Violation] = []
    /// The longest unavailability after a fault, per fault kind (ms): until the first send invoked after the
    /// fault was acknowledged (any queue, any producer: the cluster's view).
    public var worstUnavailabilityMs: [String: Int64] = [:]
    /// The clients' view (issue 18), one value per fault of each kind; see `ClientView`.
    public var clientView: [String: [ClientView]] = [:]
    /// The median number of sends acknowledged per second over the run (the steady rate).
    public var steadySendsPerSecond = 0

    public func count(_ kind: Violation.Kind) -> Int { violations.filter { $0.kind == kind }.count }
    public var passed: Bool { violations.isEmpty }
}

/// The chaos checker (pure): reads a history and the run's model, returns every violation of Ferry's contract
/// (DESIGN §1) it can prove from what clients saw.
public enum Checker {
    struct Send {
        var process: String
        var queue: String
        var group: String?
        var body: String
        var dedup: String?
        var sessionIndex: Int?
        var invokeT: Int64
        var outcome: HistoryEvent.Kind?
        var completeT: Int64
        var position: Position?
    }

    struct Message {
        var group: String?
        var body: String
        var dedup: String?
        var acknowledged = false
        /// Receive invoke and ok times of each delivery, their places in the history, and which receive it was (a
        /// batch may hold several messages of one group, in order).
        var deliveries: [(invokeT: Int64, okT: Int64, invokeAt: Int, okAt: Int, receive: Int)] = []
        /// The first delete's invoke's place in the history: what happened before what when the times are equal
        /// (the recorder appends under its lock, in the order things happened; times are whole milliseconds).
        var deleteInvokeAt: Int?
        var deleteOkT: Int64?
        /// The latest invocation of a delete that got no answer (`info`, or never completed).
        var unansweredDeleteInvokeT: Int64?
        var deadLettered = false
    }

    struct Key: Hashable {
        var queue: String
        var position: Position
    }

    public static func check(_ history: [HistoryEvent], model: CheckModel) -> CheckReport {
        var report = CheckReport()
        let events = history.enumerated().sorted { ($0.element.t, $0.offset) < ($1.element.t, $1.offset) }
            .map(\.element)
        var invokes: [String: (event: HistoryEvent, at: Int)] = [:]
        var sends: [Send] = []
        var receives: [(invoke: HistoryEvent, ok: HistoryEvent, invokeAt: Int, okAt: Int)] = []
        var deletes: [(invoke: HistoryEvent, done: HistoryEvent?, invokeAt: Int)] = []
        var faults: [HistoryEvent] = []
        var sendIndex: [String: Int] = [:]
        for (at, event) in events.enumerated() {
            let key = "\(event.process)#\(event.op)"
            if event.type == .invoke {
                report.operations += 1
                invokes[key] = (event, at)
                switch event.f {
                case "send":
                    sendIndex[key] = sends.count
                    sends.append(
                        Send(
                            process: event.process,
                            queue: event.queue ?? "",
                            group: event.group,
                            body: event.body ?? "",
                            dedup: event.dedup,
                            sessionIndex: event.sessionIndex,
                            invokeT: event.t,
                            completeT: .max
                        )
                    )
                case "delete":
                    deletes.append((event, nil, at))
                case "fault":
                    faults.append(event)
                    report.faultsByKind[event.fault ?? "?", default: 0] += 1
                default:
                    break
                }
                continue
            }
            guard let (invoke, invokeAt) = invokes[key] else { continue }
            switch invoke.f {
            case "send":
                guard let at = sendIndex[key] else { continue }
                sends[at].outcome = event.type
                sends[at].completeT = event.t
                sends[at].position = event.position
            case "receive" where event.type == .ok:
                receives.append((invoke, event, invokeAt, at))
            case "delete":
                if let at = deletes.lastIndex(where: {
                    $0.invoke.process == invoke.process && $0.invoke.op == invoke.op
                }) {
                    deletes[at].done = event
                }
            default:
                break
            }
        }

        // Messages: from acknowledged sends and from deliveries.
        var messages: [Key: Message] = [:]
        var sendsByBody: [String: [Int]] = [:]
        for (at, send) in sends.enumerated() {
            sendsByBody["\(send.queue)|\(send.body)", default: []].append(at)
            guard send.outcome == .ok, let position = send.position else { continue }
            report.acknowledgedSends += 1
            let key = Key(queue: send.queue, position: position)
            // A repeat of a deduplication id is answered with the first send's position, whatever its body.
            if let first = messages[key], first.acknowledged, first.body != send.body,
                first.dedup == nil || first.dedup != send.dedup
            {
                report.violations.append(
                    Violation(
                        kind: .overwritten,
                        detail: "\(key.queue) \(key.position) acknowledged for '\(first.body)' and for '\(send.body)'"
                    )
                )
                continue
            }
            messages[key, default: Message(group: send.group, body: send.body, dedup: send.dedup)].acknowledged = true
        }
        var deadLetters: [Key: Set<Position>] = [:]
        for (receive, (invoke, ok, invokeAt, okAt)) in receives.enumerated() {
            let queue = invoke.queue ?? ""
            for delivery in ok.deliveries ?? [] {
                report.deliveries += 1
                let key = Key(queue: queue, position: delivery.position)
                messages[key, default: Message(group: delivery.group, body: delivery.body)].deliveries.append(
                    (invoke.t, ok.t, invokeAt, okAt, receive)
                )
                if let originQueue = delivery.originQueue, let origin = delivery.originPosition {
                    let source = Key(queue: originQueue, position: origin)
                    deadLetters[source, default: []].insert(delivery.position)
                    messages[source, default: Message(group: delivery.group, body: delivery.body)].deadLettered = true
                    if messages[source]!.body != delivery.body {
                        report.violations.append(
                            Violation(
                                kind: .phantom,
                                detail:
                                    "\(queue) \(delivery.position) claims origin \(originQueue) \(origin), which holds another body"
                            )
                        )
                    }
                } else {
                    if let acknowledged = messages[key], acknowledged.acknowledged, acknowledged.body != delivery.body {
                        report.violations.append(
                            Violation(
                                kind: .overwritten,
                                detail:
                                    "\(queue) \(delivery.position) delivered '\(delivery.body)', acknowledged for '\(acknowledged.body)'"
                            )
                        )
                    }
                    let candidates = sendsByBody["\(queue)|\(delivery.body)"] ?? []
                    if candidates.isEmpty {
                        report.violations.append(
                            Violation(
                                kind: .phantom,
                                detail: "\(queue) \(delivery.position) '\(delivery.body)' was never sent"
                            )
                        )
                    } else if candidates.allSatisfy({ sends[$0].outcome == .fail }) {
                        report.violations.append(
                            Violation(
                                kind: .phantom,
                                detail:
                                    "\(queue) \(delivery.position) '\(delivery.body)' delivered, but its send failed"
                            )
                        )
                    }
                }
            }
        }
        report.deadLettered = deadLetters.count
        for (invoke, done, invokeAt) in deletes {
            guard let position = invoke.handleOf else { continue }
            let key = Key(queue: invoke.queue ?? "", position: position)
            guard messages[key] != nil else { continue }
            messages[key]!.deleteInvokeAt = min(messages[key]!.deleteInvokeAt ?? .max, invokeAt)
            // `alreadyGone` counts too: the client retries a delete whose answer was lost, and the retry finds the
            // message gone (nothing here expires or is purged; dead letters are checked on their own).
            if let done, done.type == .ok {
                messages[key]!.deleteOkT = min(messages[key]!.deleteOkT ?? .max, done.t)
            } else if done == nil || done?.type == .info {
                messages[key]!.unansweredDeleteInvokeT = max(messages[key]!.unansweredDeleteInvokeT ?? .min, invoke.t)
            }
        }

        let keys = messages.keys.sorted { ($0.queue, $0.position) < ($1.queue, $1.position) }
        // Lost: acknowledged, never deleted, never dead-lettered — unless its last delivery was followed by a delete
        // that got no answer (it may have taken effect: the message was never seen again).
        for key in keys where messages[key]!.acknowledged {
            let message = messages[key]!
            if message.deleteOkT == nil && !message.deadLettered {
                if let unanswered = message.unansweredDeleteInvokeT, let last = message.deliveries.map(\.okT).max(),
                    unanswered >= last
                {
                    report.fateUnknown += 1
                    continue
                }
                report.violations.append(
                    Violation(
                        kind: .lost,
                        detail:
                            "\(key.queue) \(key.position) '\(message.body)': acknowledged, \(message.deliveries.count) deliveries, never deleted or dead-lettered"
                    )
                )
            }
        }
        // Redelivered after a successful delete.
        for key in keys {
            let message = messages[key]!
            guard let deleted = message.deleteOkT else { continue }
            if let again = message.deliveries.first(where: { $0.invokeT > deleted }) {
                report.violations.append(
                    Violation(
                        kind: .redelivered,
                        detail:
                            "\(key.queue) \(key.position) deleted at \(deleted) ms, delivered again at \(again.okT) ms"
                    )
                )
            }
        }
        // Dead letters at most once per source message.
        for (source, copies) in deadLetters.sorted(by: {
            ($0.key.queue, $0.key.position) < ($1.key.queue, $1.key.position)
        })
        where copies.count > 1 {
            report.violations.append(
                Violation(
                    kind: .deadLetterTwice,
                    detail: "\(source.queue) \(source.position) is in the dead-letter queue \(copies.count) times"
                )
            )
        }
        checkDuplicates(sends, sendsByBody, messages, model, &report)
        checkGroupOrder(messages, keys, &report)
        checkSessions(sends, &report)
        checkUnavailability(sends, faults, events.last?.t ?? 0, model, &report)
        measureClientView(sends, faults, events.last?.t ?? 0, &report)
        checkReplicas(model.replicas, expected: model.replicaSets, &report)
        return report
    }

    /// Positions of one body: from acknowledged sends and from deliveries (not dead-letter copies).
    static func checkDuplicates(
        _ sends: [Send],
        _ sendsByBody: [String: [Int]],
        _ messages: [Key: Message],
        _ model: CheckModel,
        _ report: inout CheckReport
    ) {
        var positionsByBody: [String: Set<Position>] = [:]
        for (key, message) in messages where !message.deliveries.isEmpty || message.acknowledged {
            positionsByBody["\(key.queue)|\(message.body)", default: []].insert(key.position)
        }
        let inside = model.dedupWindowMs - model.windowSlackMs
        for body in sendsByBody.keys.sorted() {
            let attempts = sendsByBody[body]!.map { sends[$0] }
            let positions = positionsByBody[body] ?? []
            let first = attempts.min { $0.invokeT < $1.invokeT }!
            // A client call retries inside itself until its deadline: its attempts span invoke to completion.
            let lastT = attempts.map { $0.completeT == .max ? $0.invokeT : $0.completeT }.max()!
            let isSession = attempts.contains { $0.sessionIndex != nil }
            if positions.count > 1 && (isSession || lastT - first.invokeT < inside) {
                report.violations.append(
                    Violation(
                        kind: .duplicate,
                        detail:
                            "\(body) enqueued \(positions.count) times (\(positions.sorted().map(\.description).joined(separator: ", "))) by sends within \(lastT - first.invokeT) ms"
                    )
                )
            }
            // A repeat inside the window answers with the first send's id.
            let acknowledged = attempts.filter { $0.outcome == .ok && $0.position != nil }.sorted {
                $0.completeT < $1.completeT
            }
            guard let original = acknowledged.first else { continue }
            for repeatSend in acknowledged.dropFirst()
            where repeatSend.position != original.position
                && (isSession || repeatSend.invokeT - original.completeT < inside)
            {
                report.violations.append(
                    Violation(
                        kind: .differentID,
                        detail:
                            "\(body): repeat at \(repeatSend.invokeT) ms got \(repeatSend.position!), the first send got \(original.position!)"
                    )
                )
            }
        }
    }

    /// FIFO: a group's message is delivered only after every earlier message of the group was deleted (its
    /// delete invoked before this receive answered), moved to the dead-letter queue, or delivered ahead of it in
    /// the same receive. "Before" is the history's order, which also orders events of the same millisecond.
    static func checkGroupOrder(_ messages: [Key: Message], _ keys: [Key], _ report: inout CheckReport) {
        var groups: [String: [Key]] = [:]
        for key in keys {
            guard let group = messages[key]!.group else { continue }
            groups["\(key.queue)|\(group)", default: []].append(key)
        }
        for name in groups.keys.sorted() {
            let members = groups[name]!  // sorted by position
            let states = members.map { messages[$0]! }
            // Until when each message blocks the ones after it (its delete's invoke; never once dead-lettered),
            // and the latest such time over all earlier messages: most deliveries are cleared by that alone.
            let blocks = states.map { $0.deadLettered ? Int.min : ($0.deleteInvokeAt ?? .max) }
            var latest = [Int](repeating: .min, count: members.count)
            for at in members.indices.dropFirst() { latest[at] = max(latest[at - 1], blocks[at - 1]) }
            for (at, key) in members.enumerated() {
                for delivery in states[at].deliveries where latest[at] > delivery.okAt {
                    for earlierAt in 0..<at where members[earlierAt].position.partition == key.position.partition {
                        let earlier = states[earlierAt]
                        if blocks[earlierAt] < delivery.okAt { continue }
                        if earlier.deliveries.contains(where: { $0.receive == delivery.receive }) { continue }
                        let seen = earlier.deliveries.contains { $0.invokeAt < delivery.okAt }
                        report.violations.append(
                            Violation(
                                kind: seen ? .inFlight : .order,
                                detail:
                                    "group \(name): \(key.position) delivered at \(delivery.okT) ms while \(members[earlierAt].position) was \(seen ? "in flight" : "not yet delivered")"
                            )
                        )
                        break
                    }
                }
            }
        }
    }

    /// A producer session's messages of one group take increasing positions in the producer's order.
    static func checkSessions(_ sends: [Send], _ report: inout CheckReport) {
        var streams: [String: [(index: Int, position: Position)]] = [:]
        for send in sends {
            guard let index = send.sessionIndex, send.outcome == .ok, let position = send.position else { continue }
            streams["\(send.process)|\(send.queue)|\(send.group ?? "")", default: []].append((index, position))
        }
        for name in streams.keys.sorted() {
            let stream = streams[name]!.sorted { $0.index < $1.index }
            for (a, b) in zip(stream, stream.dropFirst()) where !(a.position < b.position) && a.position != b.position {
                report.violations.append(
                    Violation(
                        kind: .sessionOrder,
                        detail:
                            "\(name): message \(b.index) at \(b.position) precedes message \(a.index) at \(a.position)"
                    )
                )
            }
        }
    }

    /// After each fault, the time until a send invoked after it was acknowledged (the run's end when none was).
    static func checkUnavailability(
        _ sends: [Send],
        _ faults: [HistoryEvent],
        _ endT: Int64,
        _ model: CheckModel,
        _ report: inout CheckReport
    ) {
        let acknowledged = sends.filter { $0.outcome == .ok }.sorted { $0.completeT < $1.completeT }
        for fault in faults {
            let kind = fault.fault ?? "?"
            // The first send invoked after the fault that was acknowledged: what a client waited for.
            let first = acknowledged.first { $0.invokeT >= fault.t }
            let unavailable = (first?.completeT ?? endT) - fault.t
            report.worstUnavailabilityMs[kind] = max(report.worstUnavailabilityMs[kind] ?? 0, unavailable)
            let bound = model.unavailabilityBoundMs[kind] ?? model.defaultUnavailabilityBoundMs
            if unavailable > bound {
                report.violations.append(
                    Violation(
                        kind: .unavailable,
                        detail:
                            "\(kind) of \(fault.target ?? "?") at \(fault.t) ms: no send acknowledged for \(unavailable) ms (bound \(bound))"
                    )
                )
            }
        }
    }

    /// At the end every replica of a partition applied the same index and holds the same state, and every
    /// expected replica answered.
    static func checkReplicas(
        _ replicas: [ReplicaDigest],
        expected: [UInt64: [UInt64]],
        _ report: inout CheckReport
    ) {
        let byGroup = Dictionary(grouping: replicas, by: \.group)
        for group in expected.keys.sorted() {
            let answered = Set(byGroup[group, default: []].map(\.node))
            let silent = expected[group]!.filter { !answered.contains($0) }.sorted()
            if !silent.isEmpty {
                report.violations.append(
                    Violation(
                        kind: .replicasDiverge,
                        detail:
                            "group \(group): no state digest from node \(silent.map(String.init).joined(separator: ", ")) after the heal (down or stuck)"
                    )
                )
            }
        }
        for group in byGroup.keys.sorted() {
            let copies = byGroup[group]!.sorted { $0.node < $1.node }
            let applied = Set(copies.map(\.applied))
            let digests = Set(copies.map(\.digest))
            if applied.count > 1 || digests.count > 1 {
                let list = copies.map {
                    "node \($0.node): applied \($0.applied), digest \(String($0.digest, radix: 16))"
                }
                report.violations.append(
                    Violation(kind: .replicasDiverge, detail: "group \(group): \(list.joined(separator: "; "))")
                )
            }
        }
    }
}
