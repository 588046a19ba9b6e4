import Foundation
import Grad

/// A `.ir` model with per-workload parameters: `$name` in code (not in comments) stands for a
/// value the tool substitutes before parsing (a dimension, or a constant of the workload), and
/// a line whose comment is `#@repeat NAME` is repeated `$NAME` times (unrolling, until loops
/// are nodes).
///
/// Integers are substituted as their digits (they are dimensions, so they must be ≥ 0), reals
/// in parentheses (`$gamma^2` with γ = −1.5 must mean (−1.5)², not −(1.5²)), printed so that
/// they read back as the same double. A `$name` without a value is an error naming it; the
/// values come from JSON numbers, so no text of the workload reaches the model.
public struct ModelTemplate: Sendable {
    public let name: String
    public let text: String

    public enum Value: Sendable, Hashable {
        case int(Int)
        case real(Double)
    }

    public init(name: String, text: String) {
        self.name = name
        self.text = text
    }

    public static func load(directory: String, eval: String) throws -> ModelTemplate {
        let path = (directory as NSString).appendingPathComponent("\(eval).ir")
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw ToolError("cannot read the model \(path)")
        }
        return ModelTemplate(name: path, text: text)
    }

    /// The model text with every parameter replaced and every marked line repeated.
    public func instantiate(_ values: [String: Value]) throws -> String {
        var lines: [String] = []
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            // Code before the first `#` (the language has no strings); comments stay as written.
            var code = Substring(line)
            var comment = Substring("")
            if let hash = line.firstIndex(of: "#") {
                code = line[..<hash]
                comment = line[hash...]
            }
            var copies = 1
            if comment.hasPrefix("#@repeat ") {
                let key = comment.dropFirst("#@repeat ".count).trimmingCharacters(in: .whitespaces)
                guard case .int(let n)? = values[key] else {
                    throw ToolError("\(name): `#@repeat \(key)` needs an integer parameter '\(key)'")
                }
                copies = n
                comment = ""
            }
            let substituted = try substitute(String(code), values) + comment
            for _ in 0..<copies { lines.append(substituted) }
        }
        return lines.joined(separator: "\n")
    }

    private func substitute(_ line: String, _ values: [String: Value]) throws -> String {
        var out = ""
        var chars = Array(line.unicodeScalars)[...]
        while let c = chars.first {
            chars = chars.dropFirst()
            guard c == "$" else {
                out.unicodeScalars.append(c)
                continue
            }
            var key = ""
            while let d = chars.first, d == "_" || d.isASCII && (d.properties.isAlphabetic || ("0"..."9").contains(d)) {
                key.unicodeScalars.append(d)
                chars = chars.dropFirst()
            }
            switch values[key] {
            case .int(let n)?:
                guard n >= 0 else { throw ToolError("\(name): parameter '\(key)' is \(n), expected an integer ≥ 0") }
                out += String(n)
            case .real(let x)?:
                guard x.isFinite else { throw ToolError("\(name): parameter '\(key)' is \(x), expected a finite number") }
                out += "(\(x))"
            case nil:
                throw ToolError("\(name): no value for the parameter '$\(key)'")
            }
        }
        return out
    }
}

/// An error of the tool (bad input, an unsupported request), reported in the response.
public struct ToolError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
