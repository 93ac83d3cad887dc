import ArgumentParser
import FerryClient
import FerryLoad
import FerryModel
import FerryWire

#if canImport(Glibc)
    import Glibc
#endif

struct ClusterCommandGroup: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cluster",
        abstract: "Look at the cluster, and change its nodes.",
        subcommands: [Status.self, Wait.self, AddNode.self, RemoveNode.self, ReplaceNode.self, MovePartition.self]
    )

    /// A node's address as the add and replace commands take it.
    struct NodeOptions: ParsableArguments {
        @Option(help: "The new node's id: never one a removed node had.") var id: UInt64
        @Option(help: "Its host (address the other nodes reach it at).") var host: String
        @Option(name: .customLong("peer-port")) var peerPort: UInt16
        @Option(name: .customLong("client-port")) var clientPort: UInt16
        @Option(name: .customLong("http-port")) var httpPort: UInt16

        var node: CatalogNode {
            CatalogNode(id: id, host: host, peerPort: peerPort, clientPort: clientPort, httpPort: httpPort)
        }
    }

    struct AddNode: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "add-node",
            abstract: "Add a node (started with `join: true`); replicas are rebalanced onto it.",
            discussion: "Each partition that gets a replica there adds it as a learner, promotes it once it caught up "
                + "and then drops the replica it replaces. `ferry cluster status` shows the progress."
        )
        @OptionGroup var endpoints: EndpointOptions
        @OptionGroup var node: NodeOptions

        func run() throws {
            try reportingFailures {
                try endpoints.client().changeCluster(.addNode(node.node))
                print("node \(node.id) added; replicas move onto it (see ferry cluster status)")
            }
        }
    }

    struct RemoveNode: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "remove-node",
            abstract: "Remove a node: its replicas move to the other nodes first.",
            discussion: "Refused when a group would be left without a majority of healthy voters. Stop the node once "
                + "`ferry cluster status` no longer lists it."
        )
        @OptionGroup var endpoints: EndpointOptions
        @Argument(help: "The node's id.") var id: UInt64

        func run() throws {
            try reportingFailures {
                try endpoints.client().changeCluster(.removeNode(id))
                print("node \(id) is leaving; its replicas move away (see ferry cluster status)")
            }
        }
    }

    struct ReplaceNode: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "replace-node",
            abstract: "Replace a node (one whose disk was lost, say) by a new one under a new id.",
            discussion: "Each replica of the old node moves to the new one (learner, caught up, voter, then the old "
                + "replica leaves). Never reuse the old id with an empty disk."
        )
        @OptionGroup var endpoints: EndpointOptions
        @Argument(help: "The id of the node to replace.") var old: UInt64
        @OptionGroup var node: NodeOptions

        func run() throws {
            try reportingFailures {
                try endpoints.client().changeCluster(.replaceNode(old: old, new: node.node))
                print("node \(node.id) replaces node \(old); replicas move (see ferry cluster status)")
            }
        }
    }

    struct MovePartition: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "move-partition",
            abstract: "Move one replica of one partition from one node to another."
        )
        @OptionGroup var endpoints: EndpointOptions
        @Argument var queue: String
        @Argument var partition: UInt32
        @Option var from: UInt64
        @Option var to: UInt64

        func run() throws {
            try reportingFailures {
                try endpoints.client().changeCluster(
                    .movePartition(queue: queue, partition: partition, from: from, to: to)
                )
                print("\(queue)/\(partition): replica moves from node \(from) to node \(to)")
            }
        }
    }

    struct Status: ParsableCommand {
        /// `2027-12-04T10:00:00Z (in 365 days)`, or `(expired N days ago)`.
        static func expiry(_ seconds: Int64) -> String {
            var time = time_t(seconds)
            var parts = tm()
            gmtime_r(&time, &parts)
            var text = [CChar](repeating: 0, count: 32)
            strftime(&text, text.count, "%Y-%m-%dT%H:%M:%SZ", &parts)
            let days = (seconds - Int64(Glibc.time(nil))) / 86_400
            return String(cString: text) + (days >= 0 ? " (in \(days) days)" : " (EXPIRED \(-days) days ago)")
        }

        static let configuration = CommandConfiguration(
            abstract: "Nodes, Raft groups, leaders, terms, commit and applied indexes, replication lag, fsync mode, "
                + "and replicas still moving."
        )
        @OptionGroup var endpoints: EndpointOptions

        func run() throws {
            try reportingFailures {
                let view = try ClusterView(endpoints.client())
                let cluster = view.description
                print("cluster \(cluster.clusterID): \(cluster.nodes.count) nodes, \(cluster.queues.count) queues")
                for (node, status) in view.statuses {
                    guard let status else {
                        print("node \(node.id)\t\(node.host):\(node.clientPort)\tunreachable")
                        continue
                    }
                    let leading = status.groups.filter { $0.leader == node.id }
                    print(
                        "node \(node.id)\t\(node.host):\(node.clientPort)\tfsync \(status.fsync)\t\(status.groups.count) groups, leads \(leading.count)"
                            + (status.tlsNotAfter == 0
                                ? "\ttls off" : "\ttls certificate expires \(Self.expiry(status.tlsNotAfter))")
                            + (status.storageFull.isEmpty ? "" : "\tWRITES REFUSED: \(status.storageFull)")
                    )
                    for group in status.groups {
                        let name = group.queue.isEmpty ? "metadata" : "\(group.queue)/\(group.partition)"
                        let lag = group.followers.map { "\($0.node):\(ClusterView.lag(group, $0))" }
                        print(
                            "  group \(group.groupID)\t\(name)\tleader \(group.leader)\tterm \(group.term)\tcommit \(group.commitIndex)\tapplied \(group.appliedIndex)"
                                + (lag.isEmpty ? "" : "\tlag \(lag.joined(separator: ","))")
                                + "\tvoters \(group.voters.map(String.init).joined(separator: ","))"
                                + (group.learners.isEmpty
                                    ? "" : "\tlearners \(group.learners.map(String.init).joined(separator: ","))")
                                + (group.repairing ? "\tREPAIRING (no vote, not counted toward commit)" : "")
                        )
                    }
                }
                let moving = view.moving
                print("replicas moving: \(moving.count) of \(cluster.partitions.count) partitions")
                for partition in moving {
                    let led = view.led[partition.groupID]
                    print(
                        "  group \(partition.groupID)\twanted \(partition.replicas.sorted().map(String.init).joined(separator: ","))"
                            + "\tvoters \(led.map { $0.voters.map(String.init).joined(separator: ",") } ?? "unknown (no leader)")"
                            + (led?.learners.isEmpty == false
                                ? "\tlearners \(led!.learners.map(String.init).joined(separator: ","))" : "")
                    )
                }
            }
        }
    }

    struct Wait: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Wait until the cluster is settled, a node caught up, or a removed node is gone.",
            discussion: "Settled: every node answers, every partition has a leader, no replica is moving and no "
                + "follower is \(ClusterView.caughtUpLag) or more entries behind. Exits 0 once the condition holds, 1 "
                + "after --timeout seconds with the reason it still does not. Deploy scripts call it between steps."
        )
        @OptionGroup var endpoints: EndpointOptions
        @Flag(help: "Wait until the whole cluster is settled.") var settled = false
        @Option(name: .customLong("caught-up"), help: "Wait until this node answers and no leader reports it behind.")
        var caughtUp: UInt64?
        @Option(help: "Wait until this (removed) node is no longer listed and no group counts it.") var gone: UInt64?
        @Option(help: "Give up after this many seconds.") var timeout: Double = 120

        func validate() throws {
            let conditions = (settled ? 1 : 0) + (caughtUp == nil ? 0 : 1) + (gone == nil ? 0 : 1)
            guard conditions == 1 else {
                throw ValidationError("name exactly one of --settled, --caught-up ID, --gone ID")
            }
            guard timeout > 0 else { throw ValidationError("--timeout must be positive") }
        }

        func run() throws {
            try reportingFailures {
                let client = try endpoints.client()
                let started = monotonicMs()
                var reason = "no answer yet"
                while monotonicMs() - started < timeout * 1_000 {
                    if let view = try? ClusterView(client) {
                        let blocking: String?
                        if let id = caughtUp {
                            blocking = view.notCaughtUp(id)
                        } else if let id = gone {
                            blocking = view.notGone(id)
                        } else {
                            blocking = view.unsettled
                        }
                        guard let blocking else {
                            print("ok after \(Int(monotonicMs() - started)) ms")
                            return
                        }
                        reason = blocking
                    }
                    usleep(250_000)
                }
                writeError("ferry: not after \(timeout) s: \(reason)\n")
                throw ExitCode(1)
            }
        }
    }
}
