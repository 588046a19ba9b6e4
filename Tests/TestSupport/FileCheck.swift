import Foundation

/// A small FileCheck (after LLVM's) for pass tests: checks text output against `// CHECK…`
/// directives written in the test input.
///
/// Directives (one per line, anywhere after `//`):
/// - `CHECK: pattern` — a later line contains the pattern;
/// - `CHECK-NEXT: pattern` — the line right after the previous match contains it;
/// - `CHECK-NOT: pattern` — no line between the previous match and the next match (or the
///   end) contains it;
/// - `CHECK-LABEL: pattern` — like CHECK, and it bounds the CHECK-NOT ranges around it.
///
/// In patterns, `{{regex}}` matches a regular expression, `[[NAME:regex]]` matches it and binds
/// NAME to the text, `[[NAME]]` matches the text NAME was bound to. Runs of spaces match any
/// run of spaces. Everything else is literal.
public enum FileCheck {
    public enum Kind: String, Sendable {
        case check = "CHECK"
        case next = "CHECK-NEXT"
        case not = "CHECK-NOT"
        case label = "CHECK-LABEL"
    }

    public struct Directive: Sendable {
        public var kind: Kind
        public var pattern: String
        /// 1-based line of the directive in the check file.
        public var line: Int
    }

    /// The directives of a check file, in order.
    public static func directives(in text: String) -> [Directive] {
        var result: [Directive] = []
        for (i, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            guard let slashes = raw.range(of: "//") else { continue }
            let rest = raw[slashes.upperBound...].drop { $0 == " " }
            for kind in [Kind.next, .not, .label, .check] {
                let prefix = kind.rawValue + ":"
                if rest.hasPrefix(prefix) {
                    let pattern = rest.dropFirst(prefix.count).trimmingCharacters(in: .whitespaces)
                    result.append(Directive(kind: kind, pattern: pattern, line: i + 1))
                    break
                }
            }
        }
        return result
    }

    /// Checks `output` against the directives of `checkText`; returns the failures (empty when
    /// everything matched), each naming the directive's line.
    public static func check(_ output: String, against checkText: String) -> [String] {
        check(output, directives: directives(in: checkText))
    }

    public static func check(_ output: String, directives: [Directive]) -> [String] {
        let lines = output.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        var variables: [String: String] = [:]
        var position = 0  // first line not yet consumed
        var lastMatch: Int? = nil
        var pendingNots: [Directive] = []
        var failures: [String] = []

        func checkNots(upTo end: Int) {
            for d in pendingNots {
                for l in position..<max(position, end) {
                    if match(d.pattern, in: lines[l], variables: variables) != nil {
                        failures.append("line \(d.line): CHECK-NOT: '\(d.pattern)' matched output line \(l + 1): \(lines[l])")
                        break
                    }
                }
            }
            pendingNots.removeAll()
        }

        for d in directives {
            switch d.kind {
            case .not:
                pendingNots.append(d)
            case .check, .label:
                var found: Int? = nil
                for l in position..<lines.count {
                    if let bound = match(d.pattern, in: lines[l], variables: variables) {
                        variables.merge(bound) { $1 }
                        found = l
                        break
                    }
                }
                guard let l = found else {
                    failures.append("line \(d.line): \(d.kind.rawValue): '\(d.pattern)' not found after output line \(position)")
                    return failures
                }
                checkNots(upTo: l)
                position = l + 1
                lastMatch = l
            case .next:
                guard lastMatch != nil, position < lines.count,
                      let bound = match(d.pattern, in: lines[position], variables: variables) else {
                    let got = position < lines.count ? lines[position] : "<end of output>"
                    failures.append("line \(d.line): CHECK-NEXT: '\(d.pattern)' does not match the next line: \(got)")
                    return failures
                }
                variables.merge(bound) { $1 }
                checkNots(upTo: position)
                lastMatch = position
                position += 1
            }
        }
        checkNots(upTo: lines.count)
        return failures
    }

    /// Matches a pattern anywhere in `line`; returns the variables it binds, or `nil`.
    static func match(_ pattern: String, in line: String, variables: [String: String]) -> [String: String]? {
        var regex = ""
        var captures: [String] = []
        var rest = Substring(pattern)
        var previousWasSpace = false
        while let c = rest.first {
            if rest.hasPrefix("{{"), let close = rest.range(of: "}}") {
                regex += "(?:" + rest[rest.index(rest.startIndex, offsetBy: 2)..<close.lowerBound] + ")"
                rest = rest[close.upperBound...]
                previousWasSpace = false
                continue
            }
            if rest.hasPrefix("[["), let close = rest.range(of: "]]") {
                let body = rest[rest.index(rest.startIndex, offsetBy: 2)..<close.lowerBound]
                if let colon = body.firstIndex(of: ":") {
                    captures.append(String(body[..<colon]))
                    regex += "(" + body[body.index(after: colon)...] + ")"
                } else {
                    regex += NSRegularExpression.escapedPattern(for: variables[String(body)] ?? "\u{0}undefined[[\(body)]]")
                }
                rest = rest[close.upperBound...]
                previousWasSpace = false
                continue
            }
            if c == " " {
                if !previousWasSpace { regex += " +" }
                previousWasSpace = true
            } else {
                regex += NSRegularExpression.escapedPattern(for: String(c))
                previousWasSpace = false
            }
            rest = rest.dropFirst()
        }
        guard let re = try? NSRegularExpression(pattern: regex) else { return nil }
        let range = NSRange(line.startIndex..., in: line)
        guard let m = re.firstMatch(in: line, range: range) else { return nil }
        var bound: [String: String] = [:]
        for (i, name) in captures.enumerated() {
            if let r = Range(m.range(at: i + 1), in: line) { bound[name] = String(line[r]) }
        }
        return bound
    }
}
