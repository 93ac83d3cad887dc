/// A queue's access policy (the `Policy` attribute), parsed and evaluated as AWS evaluates a resource policy, for
/// the subset queues use: `Effect` Allow or Deny (an explicit Deny wins over every Allow), `Principal` (`*`, an
/// account id, `arn:aws:iam::<account>:root`, or a key's ARN), `Action` or `NotAction` with `*` and `?`
/// wildcards, `Resource` with wildcards (an ARN's six parts matched one by one), and `Condition` with the
/// String and Arn operators (and their `IfExists` forms) on `aws:SourceArn` and `aws:SourceAccount`.
///
/// A document outside this subset is refused when it is set (`QueuePolicy.parse`), naming what is wrong, rather
/// than stored and silently misread.
public struct QueuePolicy: Sendable, Equatable {
    public enum Effect: String, Sendable { case allow = "Allow", deny = "Deny" }

    public struct Statement: Sendable, Equatable {
        public var sid: String?
        public var effect: Effect
        /// nil: every principal (`"*"` or `{"AWS": "*"}`).
        public var principals: [String]?
        public var actions: [String]
        /// `NotAction`: the statement applies to every action but these.
        public var actionsNegated: Bool
        public var resources: [String]
        /// Operator (e.g. `ArnLike`, `StringEqualsIfExists`) → context key (lower-cased) → accepted values.
        public var conditions: [String: [String: [String]]]
    }

    public var statements: [Statement]

    /// What a request is, for evaluation.
    public struct Request: Sendable {
        /// The account of the key that signed the request.
        public var account: String
        /// The key's ARN (`arn:aws:iam::<account>:user/<key id>`).
        public var principalARN: String
        /// The SQS action without its prefix, e.g. `SendMessage`.
        public var action: String
        /// The queue's ARN.
        public var resource: String
        /// Context keys (lower-cased), e.g. `aws:sourcearn`.
        public var context: [String: String]

        public init(
            account: String,
            principalARN: String,
            action: String,
            resource: String,
            context: [String: String] = [:]
        ) {
            self.account = account
            self.principalARN = principalARN
            self.action = action
            self.resource = resource
            self.context = context
        }
    }

    public enum Decision: Sendable, Equatable {
        /// A statement denies it.
        case denied(sid: String?)
        /// A statement allows it and none denies it.
        case allowed(sid: String?)
        /// No statement applies.
        case notApplicable
    }

    /// Why a document is not a policy this evaluator can apply.
    public struct Malformed: Error, Sendable, Equatable, CustomStringConvertible {
        public var reason: String
        public var description: String { reason }
    }

    static let operators: Set<String> = [
        "StringEquals", "StringNotEquals", "StringEqualsIgnoreCase", "StringNotEqualsIgnoreCase", "StringLike",
        "StringNotLike", "ArnEquals", "ArnNotEquals", "ArnLike", "ArnNotLike",
    ]
    static let conditionKeys: Set<String> = ["aws:sourcearn", "aws:sourceaccount"]

    /// Parses a policy document; refuses one outside the subset with the reason.
    public static func parse(_ text: String) throws(Malformed) -> QueuePolicy {
        guard let document = JSONDocument.object(parsing: text) else { throw Malformed(reason: "not a JSON object") }
        for key in document.keys where !["Version", "Id", "Statement"].contains(key) {
            throw Malformed(reason: "unknown top-level field \(key)")
        }
        if let version = document["Version"] {
            guard case .string(let value) = version, ["2012-10-17", "2008-10-17"].contains(value) else {
                throw Malformed(reason: "Version must be 2012-10-17 or 2008-10-17")
            }
        }
        let list: [JSONDocument]
        switch document["Statement"] {
        case .array(let items)?: list = items
        case .object?: list = [document["Statement"]!]
        default: throw Malformed(reason: "Statement must be an object or a list of objects")
        }
        guard !list.isEmpty else { throw Malformed(reason: "Statement is empty") }
        var statements: [Statement] = []
        for (at, item) in list.enumerated() {
            guard case .object(let fields) = item else {
                throw Malformed(reason: "statement \(at + 1) is not an object")
            }
            statements.append(try statement(fields, number: at + 1))
        }
        return QueuePolicy(statements: statements)
    }

    private static func statement(_ fields: [String: JSONDocument], number: Int) throws(Malformed) -> Statement {
        func refuse(_ reason: String) -> Malformed { Malformed(reason: "statement \(number): \(reason)") }
        let known: Set<String> = ["Sid", "Effect", "Principal", "Action", "NotAction", "Resource", "Condition"]
        for key in fields.keys.sorted() where !known.contains(key) {
            throw refuse(
                key == "NotPrincipal" || key == "NotResource" ? "\(key) is not supported" : "unknown field \(key)"
            )
        }
        var sid: String?
        if let value = fields["Sid"] {
            guard case .string(let text) = value else { throw refuse("Sid must be a string") }
            sid = text
        }
        guard case .string(let effectText)? = fields["Effect"], let effect = Effect(rawValue: effectText) else {
            throw refuse("Effect must be Allow or Deny")
        }
        let principals: [String]?
        switch fields["Principal"] {
        case .string("*")?: principals = nil
        case .object(let principal)?:
            guard principal.keys.sorted() == ["AWS"], let values = strings(principal["AWS"]!), !values.isEmpty else {
                throw refuse("Principal must be \"*\" or {\"AWS\": account ids or ARNs}")
            }
            principals = values.contains("*") ? nil : values
        default: throw refuse("Principal is missing or not \"*\" or {\"AWS\": ...}")
        }
        let actionKey = fields["Action"] != nil ? "Action" : "NotAction"
        guard fields["Action"] == nil || fields["NotAction"] == nil else { throw refuse("both Action and NotAction") }
        guard let actionList = fields[actionKey], let actions = strings(actionList), !actions.isEmpty else {
            throw refuse("Action (or NotAction) must be a string or a list of strings")
        }
        for action in actions where action != "*" && !action.lowercased().hasPrefix("sqs:") {
            throw refuse("action \(action) is not an SQS action (sqs:...)")
        }
        guard let resourceList = fields["Resource"], let resources = strings(resourceList), !resources.isEmpty else {
            throw refuse("Resource must be a string or a list of strings")
        }
        for resource in resources where resource != "*" && !resource.hasPrefix("arn:") {
            throw refuse("resource \(resource) is not an ARN or *")
        }
        var conditions: [String: [String: [String]]] = [:]
        if let condition = fields["Condition"] {
            guard case .object(let byOperator) = condition else { throw refuse("Condition must be an object") }
            for (name, entries) in byOperator {
                let base = name.hasSuffix("IfExists") ? String(name.dropLast(8)) : name
                guard operators.contains(base) else { throw refuse("condition operator \(name) is not supported") }
                guard case .object(let byKey) = entries else { throw refuse("condition \(name) must be an object") }
                for (key, values) in byKey {
                    guard conditionKeys.contains(key.lowercased()) else {
                        throw refuse("condition key \(key) is not supported (aws:SourceArn, aws:SourceAccount)")
                    }
                    guard let list = strings(values), !list.isEmpty else {
                        throw refuse("condition \(name) \(key) must be a string or a list of strings")
                    }
                    conditions[name, default: [:]][key.lowercased()] = list
                }
            }
        }
        return Statement(
            sid: sid,
            effect: effect,
            principals: principals,
            actions: actions,
            actionsNegated: actionKey == "NotAction",
            resources: resources,
            conditions: conditions
        )
    }

    /// A string or a list of strings.
    private static func strings(_ value: JSONDocument) -> [String]? {
        switch value {
        case .string(let text): return [text]
        case .array(let items):
            var list: [String] = []
            for item in items {
                guard case .string(let text) = item else { return nil }
                list.append(text)
            }
            return list
        default: return nil
        }
    }

    // MARK: Evaluation

    /// AWS's order: an explicit Deny wins; otherwise an Allow allows; otherwise nothing applies.
    public func evaluate(_ request: Request) -> Decision {
        var allowedBy: String??
        for statement in statements where Self.applies(statement, to: request) {
            if statement.effect == .deny { return .denied(sid: statement.sid) }
            if allowedBy == nil { allowedBy = .some(statement.sid) }
        }
        if let sid = allowedBy { return .allowed(sid: sid) }
        return .notApplicable
    }

    static func applies(_ statement: Statement, to request: Request) -> Bool {
        if let principals = statement.principals {
            let matches = principals.contains { principal in
                principal == request.account || principal == "arn:aws:iam::\(request.account):root"
                    || Self.arnLike(principal, request.principalARN)
            }
            guard matches else { return false }
        }
        let action = "sqs:" + request.action
        let named = statement.actions.contains { $0 == "*" || Self.like($0.lowercased(), action.lowercased()) }
        guard named != statement.actionsNegated else { return false }
        guard statement.resources.contains(where: { $0 == "*" || Self.arnLike($0, request.resource) }) else {
            return false
        }
        for (name, byKey) in statement.conditions {
            for (key, values) in byKey {
                guard Self.condition(name, values, request.context[key]) else { return false }
            }
        }
        return true
    }

    /// One condition on one key: a positive operator needs the key (unless IfExists); a negated one holds
    /// when the key is absent.
    package static func condition(_ name: String, _ values: [String], _ actual: String?) -> Bool {
        let ifExists = name.hasSuffix("IfExists")
        let base = ifExists ? String(name.dropLast(8)) : name
        let negated = base.contains("Not")
        guard let actual else { return ifExists || negated }
        let any: Bool
        switch base {
        case "StringEquals", "StringNotEquals": any = values.contains(actual)
        case "StringEqualsIgnoreCase", "StringNotEqualsIgnoreCase":
            any = values.contains { $0.lowercased() == actual.lowercased() }
        case "StringLike", "StringNotLike": any = values.contains { like($0, actual) }
        case "ArnEquals", "ArnNotEquals", "ArnLike", "ArnNotLike": any = values.contains { arnLike($0, actual) }
        default: return false
        }
        return negated ? !any : any
    }

    /// An ARN pattern against an ARN: the six colon-separated parts one by one (the last takes the rest), each
    /// with wildcards; a pattern that is no ARN is matched as a whole.
    package static func arnLike(_ pattern: String, _ arn: String) -> Bool {
        guard pattern.hasPrefix("arn:") else { return like(pattern, arn) }
        let patternParts = pattern.split(separator: ":", maxSplits: 5, omittingEmptySubsequences: false)
        let arnParts = arn.split(separator: ":", maxSplits: 5, omittingEmptySubsequences: false)
        guard patternParts.count == 6, arnParts.count == 6 else { return false }
        return zip(patternParts, arnParts).allSatisfy { like(String($0), String($1)) }
    }

    /// `*` any run of characters, `?` any one character, everything else itself.
    package static func like(_ pattern: String, _ text: String) -> Bool {
        let p = Array(pattern.utf8)
        let t = Array(text.utf8)
        var (i, j) = (0, 0)
        var star = -1
        var mark = 0
        while j < t.count {
            if i < p.count && (p[i] == UInt8(ascii: "?") || p[i] == t[j]) {
                i += 1
                j += 1
            } else if i < p.count && p[i] == UInt8(ascii: "*") {
                star = i
                mark = j
                i += 1
            } else if star >= 0 {
                i = star + 1
                mark += 1
                j = mark
            } else {
                return false
            }
        }
        while i < p.count && p[i] == UInt8(ascii: "*") { i += 1 }
        return i == p.count
    }
}
