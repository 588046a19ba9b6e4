import Foundation
import Grad

/// Builds the input tensors of a function from `--input name=spec` options:
/// `name=file.npy`, `name=1.5` (fills the tensor), `name=[1,2,3]` (row-major values) or
/// `name=random` (uniform in [-1, 1), seeded). Inputs not given are random.
func makeInputs(for f: Function, specs: [String], seed: UInt64) throws -> [String: Tensor] {
    var given: [String: String] = [:]
    for spec in specs {
        guard let eq = spec.firstIndex(of: "=") else {
            throw UsageError(message: "--input expects name=value, got '\(spec)'")
        }
        let name = String(spec[..<eq])
        guard f.parameters.contains(where: { $0.name == name }) else {
            let known = f.parameters.map(\.name).joined(separator: ", ")
            throw UsageError(message: "function '\(f.name)' has no input '\(name)' (inputs: \(known))")
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
    var values: [Double] = []
    for part in body.split(separator: ",") {
        let text = part.trimmingCharacters(in: .whitespaces)
        guard let v = parseNumber(text, dtype: type.dtype) else {
            throw UsageError(message: "input '\(name)': '\(text)' is not a number (expected a value, [v,…], a .npy file or random)")
        }
        values.append(v)
    }
    guard values.count == 1 || values.count == type.count else {
        throw UsageError(message: "input '\(name)' of type \(type) needs 1 or \(type.count) values, got \(values.count)")
    }
    return Tensor(type, doubles: values)
}

private func parseNumber(_ text: String, dtype: DType) -> Double? {
    switch text {
    case "true": return 1
    case "false": return 0
    case "inf", "+inf": return .infinity
    case "-inf": return -.infinity
    case "nan": return .nan
    default: return Double(text)
    }
}
