import FerryNode
import Foundation
import Logging
import Testing

/// The node's JSON log lines (`FerryLogHandler`) and node.yaml's `log_levels`.
@Suite struct NodeLogTests {
    @Test func aLineIsOneJSONObjectWithTheStableFieldsFirst() throws {
        let line = FerryLogHandler.line(
            wallMs: 1_796_536_975_555,
            level: .debug,
            node: 3,
            subsystem: .client,
            message: "request send refused: notLeader (\"leader is 2\")\nsecond line",
            metadata: ["event": "refused", "group": "12", "request_id": "ab12-cd", "status": "503"]
        )
        #expect(line.hasSuffix("}\n"))
        #expect(
            line.hasPrefix(
                #"{"time":"2026-12-06T06:02:55.555Z","level":"debug","node":3,"subsystem":"client","event":"refused","#
                    + #""group":12,"request_id":"ab12-cd","status":"503","msg":"#
            )
        )
        let object = try #require(
            try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
        )
        #expect(object["msg"] as? String == "request send refused: notLeader (\"leader is 2\")\nsecond line")
        #expect(object["group"] as? Int == 12)
        #expect(object["node"] as? Int == 3)
    }

    @Test func timesAreUTCCalendarDates() {
        func time(_ ms: Int64) -> String {
            let line = FerryLogHandler.line(
                wallMs: ms,
                level: .info,
                node: 1,
                subsystem: .node,
                message: "",
                metadata: [:]
            )
            return String(line.dropFirst(9).prefix(24))
        }
        #expect(time(0) == "1970-01-01T00:00:00.000Z")
        #expect(time(951_782_400_000) == "2000-02-29T00:00:00.000Z")
        #expect(time(4_107_542_399_999) == "2100-02-28T23:59:59.999Z")
        #expect(time(-1) == "1969-12-31T23:59:59.999Z")
    }

    @Test func levelsAreSetPerSubsystemAndBadNamesAreRefused() throws {
        var config = NodeConfig(nodeID: 1, clusterID: "c", dataDirectory: "/tmp/x", members: [])
        config.logLevels = ["client": "debug", "raft": "warning"]
        let table = try config.logLevelTable()
        #expect(table == [.client: .debug, .raft: .warning])
        config.logLevels = ["clients": "debug"]
        #expect(throws: ConfigError.self) { try config.logLevelTable() }
        config.logLevels = ["client": "verbose"]
        do {
            _ = try config.logLevelTable()
            Issue.record("an unknown level was accepted")
        } catch {
            #expect(error.field == "log_levels.client")
        }
        let parsed = try NodeConfig.parse(
            yaml: """
                node_id: 1
                cluster_id: c
                data_dir: /tmp/x
                log_levels: {sqs: debug, storage: error}
                members: []
                """
        )
        #expect(try parsed.logLevelTable() == [.sqs: .debug, .storage: .error])
    }
}
