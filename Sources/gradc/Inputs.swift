import Foundation
import Grad

/// Builds the input tensors of a function from `--input name=spec` options:
/// `name=file.npy`, `name=1.5` (fills the tensor), `name=[1,2,3]` (row-major values) or
/// `name=random` (uniform in [-1, 1), seeded). Inputs not given are random. Values are read
/// in the input's dtype, never through a double: i64 exactly, bool as `true`/`false`/`1`/`0`
/// (docs/cli.md, "Inputs").
func makeInputs(for f: Function, specs: [String], seed: UInt64) throws -> [String: Tensor] {
    var given: [String: String] = [:]
    for spec in specs {
        guard let eq = spec.firstIndex(of: "=") else {
            throw UsageError(message: "--input expects name=value, got '\(spec)'")
        }
        let name = String(spec[..<eq])
        guard f.parameters.contains(where: { $0.name == name }) else {
            let known = f.parameters.map(\.name).joined(separator: ", ")
            throw UsageError(message: "function '\(f.name)' has no input '\(name)' (inputs: \(known))",
                             hint: Suggestions.didYouMean(name, among: f.parameters.map(\.name)))
        }
        given[name] = String(spec[spec.index(after: eq)...])
    }
    var rng = SplitMix64(seed: seed)
    var inputs: [String: Tensor] = [:]
    for p in f.parameters {
        let type = f.type(of: p.value)
        let spec = given[p.name] ?? "random"
        inputs[p.name] = try tensor(from: spec, name: p.name, type: type, rng: &rng)
    }
    return inputs
}

private func tensor(from spec: String, name: String, type: TensorType, rng: inout SplitMix64) throws -> Tensor {
    if spec == "random" {
        return Tensor.random(type, using: &rng)
    }
    if spec.hasSuffix(".npy") {
        let t = try readNPY(path: spec)
        guard t.type == type else {
            throw Diagnostic(.inputTypeMismatch(name: name, expected: type, got: t.type), file: spec)
        }
        return t
    }
    let body = spec.hasPrefix("[") && spec.hasSuffix("]") ? String(spec.dropFirst().dropLast()) : spec
    let texts = body.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
    guard texts.count == 1 || texts.count == type.count else {
        throw UsageError(message: "input '\(name)' of type \(type) needs 1 or \(type.count) values, got \(texts.count)")
    }
    /// Every element read by `read` (one value fills the tensor), or an error naming the input.
    func elements<T>(_ read: (String) -> T?, _ problem: (String) -> String) throws -> [T] {
        var values: [T] = []
        for text in texts {
            guard let v = read(text) else {
                throw UsageError(message: "input '\(name)' of type \(type.dtype): '\(text)' \(problem(text))")
            }
            values.append(v)
        }
        return values.count == type.count ? values : [T](repeating: values[0], count: type.count)
    }
    /// Why `text` is not an element of a float dtype whose largest finite value is `largest`.
    func realProblem(_ largest: String) -> (String) -> String {
        { text in
            isDecimal(text) ? "is beyond the range of \(type.dtype) (largest finite magnitude \(largest); write inf for infinity)"
                : "is not a number (expected a value, [v,…], a .npy file or random)"
        }
    }
    let storage: Tensor.Storage
    switch type.dtype {
    case .f64: storage = .f64(try elements(Double.init(inputText:), realProblem("\(Double.greatestFiniteMagnitude)")))
    case .f32: storage = .f32(try elements(Float.init(inputText:), realProblem("\(Float.greatestFiniteMagnitude)")))
    case .i64: storage = .i64(try elements({ Int64($0) }, integerProblem))
    case .bool: storage = .bool(try elements(bool, { _ in "is not a bool (expected true, false, 1 or 0)" }))
    }
    guard let t = Tensor(storage, shape: type.shape) else {
        throw UsageError(message: "input '\(name)' of type \(type) cannot be made from '\(spec)'")
    }
    return t
}

extension BinaryFloatingPoint where Self: LosslessStringConvertible {
    /// A real element as written, rounded once to the type (f32 is not read through a double);
    /// `inf`, `+inf`, `-inf` and `nan` too. A decimal number beyond the type's range is refused
    /// (`1e400` for f64), as an overflowing literal in a `.ir` file is, rather than read as inf.
    init?(inputText text: String) {
        switch text {
        case "inf", "+inf": self = .infinity
        case "-inf": self = -.infinity
        case "nan": self = .nan
        default:
            guard let v = Self(text), v.isFinite || !isDecimal(text) else { return nil }
            self = v
        }
    }
}

/// Whether `text` is written as a decimal number (an optional sign, then a digit or a point),
/// not as one of the words `Double(_:)` also reads (`infinity`, `nan`).
private func isDecimal(_ text: String) -> Bool {
    let body = text.hasPrefix("-") || text.hasPrefix("+") ? text.dropFirst() : text[...]
    guard let first = body.first else { return false }
    return first.isASCII && (first.isNumber || first == ".")
}

/// Why `text` is not an i64 element (`Int64(text)` refused it): every integer is read exactly,
/// so one outside i64's range is refused, not rounded or clamped.
private func integerProblem(_ text: String) -> String {
    let digits = text.hasPrefix("-") || text.hasPrefix("+") ? text.dropFirst() : text[...]
    if !digits.isEmpty, digits.allSatisfy({ $0.isASCII && $0.isNumber }) {
        return "does not fit in i64 (integers from \(Int64.min) to \(Int64.max))"
    }
    return "is not an integer (i64 values are written as digits with an optional sign)"
}

/// A bool element: exactly `true`, `false`, `1` or `0`.
private func bool(_ text: String) -> Bool? {
    switch text {
    case "true", "1": return true
    case "false", "0": return false
    default: return nil
    }
}
