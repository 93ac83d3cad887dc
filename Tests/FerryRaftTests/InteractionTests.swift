import FerrySimulator
import Foundation
import Testing

/// Golden interaction scenarios (etcd's `testdata/*.txt` style): each block is a command, `----`, and what the
/// nodes printed. `FERRY_REWRITE=1` rewrites the expected output; commit only a rewrite you understand.
@Suite struct InteractionTests {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent(
        "testdata"
    )

    static var scenarios: [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
        return names.filter { $0.hasSuffix(".txt") }.sorted()
    }

    struct Block {
        var preamble: [String]
        var command: String
        var expected: String
    }

    static func parse(_ text: String) -> [Block] {
        var blocks: [Block] = []
        var lines = text.components(separatedBy: "\n")[...]
        while !lines.isEmpty {
            while let first = lines.first, first.trimmingCharacters(in: .whitespaces).isEmpty { lines.removeFirst() }
            var preamble: [String] = []
            while let first = lines.first, first.hasPrefix("#") {
                preamble.append(first)
                lines.removeFirst()
            }
            guard let command = lines.first else {
                if !preamble.isEmpty { blocks.append(Block(preamble: preamble, command: "", expected: "")) }
                break
            }
            lines.removeFirst()
            var expected: [String] = []
            if lines.first == "----" {
                lines.removeFirst()
                while let first = lines.first, !first.isEmpty {
                    expected.append(first)
                    lines.removeFirst()
                }
            }
            blocks.append(Block(preamble: preamble, command: command, expected: expected.joined(separator: "\n")))
        }
        return blocks
    }

    @Test(arguments: scenarios)
    func scenarioMatchesGoldenTranscript(_ name: String) throws {
        let file = Self.directory.appendingPathComponent(name)
        let text = try String(contentsOf: file, encoding: .utf8)
        var env = InteractionEnv()
        var rewritten: [String] = []
        for block in Self.parse(text) {
            guard !block.command.isEmpty else {
                rewritten.append(block.preamble.joined(separator: "\n"))
                continue
            }
            let actual = env.run(block.command)
            if ProcessInfo.processInfo.environment["FERRY_REWRITE"] == "1" {
                rewritten.append((block.preamble + [block.command, "----", actual]).joined(separator: "\n"))
            } else {
                #expect(actual == block.expected, "\(name): \(block.command)")
            }
        }
        if ProcessInfo.processInfo.environment["FERRY_REWRITE"] == "1" {
            try (rewritten.joined(separator: "\n\n") + "\n").write(to: file, atomically: true, encoding: .utf8)
        }
    }
}
