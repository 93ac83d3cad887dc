import FoundationEssentials

/// SQS's query protocol (2012-11-05): `Action=<Operation>&Version=2012-11-05` and the members as form
/// parameters, in a POST body (`application/x-www-form-urlencoded`) or a GET query string, sent to the endpoint or
/// to a queue's URL; answers are XML (`<OpResponse><OpResult>…</OpResult><ResponseMetadata>…`), errors
/// `<ErrorResponse><Error><Type/><Code/><Message/>…`.
///
/// Rather than a second set of operations, a request's parameters are turned into the JSON members the JSON 1.0
/// protocol would send (so both decode into the same input types), and an output's JSON members are written
/// out as XML. The model's serialization names are few and regular: lists and maps are "flattened" under a
/// singular name (`AttributeName.1`, `Attribute.1.Name` + `Attribute.1.Value`, `MessageAttribute.1.Value.DataType`,
/// `SendMessageBatchRequestEntry.1.Id`), listed in `lists`, `maps` and `entries` below.
package enum AWSQuery {
    static let namespace = "http://queue.amazonaws.com/doc/2012-11-05/"

    // MARK: Requests

    /// The request's parameters: its query string and, for a form POST, its body (the body wins).
    static func parameters(of request: SigV4Verifier.Request) -> [String: String] {
        var parameters = form(request.query)
        let type = request.values("content-type").first?.lowercased() ?? ""
        if request.method == "POST", type.isEmpty || type.hasPrefix("application/x-www-form-urlencoded") {
            parameters.merge(form(String(decoding: request.body, as: UTF8.self))) { $1 }
        }
        return parameters
    }

    /// `a=1&b=x%20y` → `["a": "1", "b": "x y"]` (`+` is a space, as forms encode it).
    package static func form(_ text: String) -> [String: String] {
        var parameters: [String: String] = [:]
        for pair in text.split(separator: "&", omittingEmptySubsequences: true) {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard let key = decode(parts[0]) else { continue }
            parameters[key] = parts.count > 1 ? decode(parts[1]) ?? "" : ""
        }
        return parameters
    }

    /// Percent-decoding; nil for a malformed escape.
    static func decode(_ text: Substring) -> String? {
        var bytes: [UInt8] = []
        var iterator = text.utf8.makeIterator()
        while let byte = iterator.next() {
            switch byte {
            case UInt8(ascii: "+"): bytes.append(UInt8(ascii: " "))
            case UInt8(ascii: "%"):
                guard let high = iterator.next().flatMap(SigV4Verifier.hexValue),
                    let low = iterator.next().flatMap(SigV4Verifier.hexValue)
                else {
                    return nil
                }
                bytes.append(high << 4 | low)
            default: bytes.append(byte)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Flattened lists of strings: query name → JSON member.
    static let lists: [String: String] = [
        "AttributeName": "AttributeNames", "MessageAttributeName": "MessageAttributeNames",
        "MessageSystemAttributeName": "MessageSystemAttributeNames", "TagKey": "TagKeys",
        "AWSAccountId": "AWSAccountIds", "ActionName": "Actions", "StringListValue": "StringListValues",
        "BinaryListValue": "BinaryListValues",
    ]
    /// Flattened maps: query name → (JSON member, key name, value name).
    static let maps: [String: (member: String, key: String, value: String)] = [
        "Attribute": ("Attributes", "Name", "Value"), "MessageAttribute": ("MessageAttributes", "Name", "Value"),
        "MessageSystemAttribute": ("MessageSystemAttributes", "Name", "Value"), "Tag": ("Tags", "Key", "Value"),
    ]
    /// Flattened lists of structures (batch entries): query name → JSON member.
    static let entries: [String: String] = [
        "SendMessageBatchRequestEntry": "Entries", "DeleteMessageBatchRequestEntry": "Entries",
        "ChangeMessageVisibilityBatchRequestEntry": "Entries",
    ]
    /// The JSON members of the lists and maps above.
    static let emptyLists = Set(lists.values).union(entries.values).union(maps.values.map(\.member)).union(["tags"])
    /// Integer members (the JSON protocol sends them as numbers).
    static let integers: Set<String> = [
        "DelaySeconds", "MaxNumberOfMessages", "VisibilityTimeout", "WaitTimeSeconds", "MaxResults",
        "MaxNumberOfMessagesPerSecond",
    ]
    /// Parameters of the protocol or of the signature, not members.
    static let envelope: Set<String> = [
        "Action", "Version", "X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Date", "X-Amz-SignedHeaders",
        "X-Amz-Signature", "X-Amz-Security-Token", "X-Amz-Expires", "AWSAccessKeyId", "SignatureMethod",
        "SignatureVersion", "Signature", "Timestamp", "Expires",
    ]

    /// A parameter tree: `Attribute.1.Name` is `["Attribute": ["1": ["Name": value]]]`.
    indirect enum Tree {
        case value(String)
        case node([String: Tree])

        func inserting(_ path: ArraySlice<String>, _ value: String) -> Tree {
            guard let head = path.first else { return .value(value) }
            var children: [String: Tree] = [:]
            if case .node(let existing) = self { children = existing }
            children[head] = (children[head] ?? .node([:])).inserting(path.dropFirst(), value)
            return .node(children)
        }

        var children: [String: Tree] {
            if case .node(let children) = self { return children }
            return [:]
        }

        var text: String? {
            if case .value(let text) = self { return text }
            return nil
        }

        /// The numbered children (`1`, `2`, …) in order.
        var numbered: [Tree] {
            children.compactMap { key, tree in Int(key).map { ($0, tree) } }.sorted { $0.0 < $1.0 }.map(\.1)
        }
    }

    /// The JSON 1.0 body the same request would have. `queuePath`: the queue URL the request was sent to (its
    /// `QueueUrl` when the parameters name none).
    package static func json(_ parameters: [String: String], operation: String, queuePath: String?) -> Data {
        var tree = Tree.node([:])
        for (key, value) in parameters where !envelope.contains(key) {
            tree = tree.inserting(ArraySlice(key.split(separator: ".").map(String.init)), value)
        }
        var members = structure(tree)
        if members["QueueUrl"] == nil, let queuePath { members["QueueUrl"] = .string(queuePath) }
        // CreateQueue's tags are `tags` in the JSON model (its one lower-case member).
        if operation == "CreateQueue", let tags = members.removeValue(forKey: "Tags") { members["tags"] = tags }
        return Data(JSONDocument.object(members).text.utf8)
    }

    /// The members of a structure's parameter tree.
    static func structure(_ tree: Tree) -> [String: JSONDocument] {
        var members: [String: JSONDocument] = [:]
        for (name, child) in tree.children {
            if let member = lists[name] {
                members[member] = .array(child.numbered.compactMap(\.text).map(JSONDocument.string))
            } else if let map = maps[name] {
                var object: [String: JSONDocument] = [:]
                for item in child.numbered {
                    guard let key = item.children[map.key]?.text, let value = item.children[map.value] else {
                        continue
                    }
                    object[key] = value.text.map(JSONDocument.string) ?? .object(structure(value))
                }
                members[map.member] = .object(object)
            } else if let member = entries[name] {
                members[member] = .array(child.numbered.map { .object(structure($0)) })
            } else if let text = child.text, text.isEmpty, emptyLists.contains(name) {
                // botocore sends an empty list or map as its member name with no value (`Entries=`).
                members[name] = maps.values.contains(where: { $0.member == name }) ? .object([:]) : .array([])
            } else if let text = child.text {
                members[name] =
                    integers.contains(name) ? Int(text).map { .integer(Int64($0)) } ?? .string(text) : .string(text)
            } else {
                members[name] = .object(structure(child))
            }
        }
        return members
    }

    // MARK: Answers

    /// Operations whose answer has no result element.
    static let withoutResult: Set<String> = [
        "DeleteQueue", "PurgeQueue", "SetQueueAttributes", "DeleteMessage", "ChangeMessageVisibility", "TagQueue",
        "UntagQueue", "AddPermission", "RemovePermission",
    ]

    package static func success<Output: Encodable>(_ output: Output, operation: String, requestID: String) -> Reply {
        var xml = "<?xml version=\"1.0\"?><\(operation)Response xmlns=\"\(namespace)\">"
        if !withoutResult.contains(operation) {
            var result = ""
            if let data = try? AWSJSON.encoder().encode(output),
                case .object(let members)? = try? JSONDecoder().decode(JSONDocument.self, from: data)
            {
                write(members, operation: operation, into: &result)
            }
            xml += "<\(operation)Result>\(result)</\(operation)Result>"
        }
        xml += "<ResponseMetadata><RequestId>\(escape(requestID))</RequestId></ResponseMetadata>"
        xml += "</\(operation)Response>"
        return Reply(status: 200, headers: headers(requestID: requestID), body: Array(xml.utf8))
    }

    package static func failure(_ error: SQSError, requestID: String) -> Reply {
        // SQS's query API words a missing queue in its own way.
        let message =
            error.code == SQSError.queueDoesNotExist.code
            ? "The specified queue does not exist for this wsdl version." : error.message
        let xml =
            "<?xml version=\"1.0\"?><ErrorResponse xmlns=\"\(namespace)\"><Error><Type>\(error.fault)</Type>"
            + "<Code>\(escape(error.code))</Code><Message>\(escape(message))</Message><Detail/></Error>"
            + "<RequestId>\(escape(requestID))</RequestId></ErrorResponse>"
        return Reply(status: error.status, headers: headers(requestID: requestID), body: Array(xml.utf8))
    }

    private static func headers(requestID: String) -> [(String, String)] {
        [("Content-Type", "text/xml"), ("x-amzn-RequestId", requestID)]
    }

    /// The singular element name a flattened list member is written under.
    static func element(ofList member: String, operation: String) -> String {
        switch member {
        case "QueueUrls", "queueUrls": return "QueueUrl"
        case "Messages": return "Message"
        case "Failed": return "BatchResultErrorEntry"
        case "Successful": return "\(operation)ResultEntry"
        case "Results": return "ListMessageMoveTasksResultEntry"
        case "StringListValues": return "StringListValue"
        case "BinaryListValues": return "BinaryListValue"
        default: return member
        }
    }

    /// A structure's members as XML elements, in name order (the JSON encoder sorts them).
    static func write(_ members: [String: JSONDocument], operation: String, into xml: inout String) {
        for name in members.keys.sorted() {
            let value = members[name]!
            switch (name, value) {
            case ("Attributes", .object(let map)), ("Tags", .object(let map)), ("MessageAttributes", .object(let map)):
                let (item, key) =
                    name == "Tags" ? ("Tag", "Key") : (name == "Attributes" ? "Attribute" : "MessageAttribute", "Name")
                for entry in map.keys.sorted() {
                    xml += "<\(item)><\(key)>\(escape(entry))</\(key)><Value>"
                    if case .object(let fields) = map[entry]! {
                        write(fields, operation: operation, into: &xml)
                    } else {
                        xml += text(map[entry]!)
                    }
                    xml += "</Value></\(item)>"
                }
            case (_, .array(let items)):
                let item = element(ofList: name, operation: operation)
                for entry in items {
                    xml += "<\(item)>"
                    if case .object(let fields) = entry {
                        write(fields, operation: operation, into: &xml)
                    } else {
                        xml += text(entry)
                    }
                    xml += "</\(item)>"
                }
            case (_, .object(let fields)):
                xml += "<\(name)>"
                write(fields, operation: operation, into: &xml)
                xml += "</\(name)>"
            case (_, .null):
                break
            default:
                xml += "<\(name)>\(text(value))</\(name)>"
            }
        }
    }

    static func text(_ value: JSONDocument) -> String {
        switch value {
        case .string(let text): return escape(text)
        case .integer(let number): return String(number)
        case .number(let number): return String(number)
        case .bool(let flag): return flag ? "true" : "false"
        case .null, .array, .object: return ""
        }
    }

    /// XML character data: the markup characters as entities, and carriage returns as `&#xD;`, which an XML
    /// parser would otherwise turn into line feeds (a message body keeps its `\r`).
    static func escape(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for scalar in text.unicodeScalars {
            switch scalar {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&apos;"
            case "\r": out += "&#xD;"
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out
    }
}
