import Grad
import TestSupport
import XCTest

/// Special values every numeric test feeds: zeros of both signs, infinities, NaN, subnormals,
/// the extremes and a few ordinary numbers.
let specialDoubles: [Double] = [0, -0.0, .infinity, -.infinity, .nan, 5e-324, -2.2250738585072e-308,
                                .greatestFiniteMagnitude, -1, 1, 0.5, -2.5, 3, 1e-300, 710, -745]
let specialFloats: [Float] = [0, -0.0, .infinity, -.infinity, .nan, 1e-45, -1.1754942e-38,
                              .greatestFiniteMagnitude, -1, 1, 0.5, -2.5, 3, 1e-30, 89, -104]

/// A tensor of `type` filled cyclically with the special values, starting at `offset`.
func specialTensor(_ type: TensorType, offset: Int) -> Tensor {
    let n = type.count
    switch type.dtype {
    case .f64:
        return Tensor(.f64((0..<n).map { specialDoubles[($0 + offset) % specialDoubles.count] }), shape: type.shape)
            ?? Tensor(0)
    case .f32:
        return Tensor(.f32((0..<n).map { specialFloats[($0 + offset) % specialFloats.count] }), shape: type.shape)
            ?? Tensor(0)
    case .i64, .bool:
        return Tensor.random(type, seed: UInt64(offset))
    }
}

/// Input sets for a function: a few random ones and a few made of special values.
func inputSets(_ f: Function, random: Int = 3, special: Int = 4) -> [[String: Tensor]] {
    var sets: [[String: Tensor]] = []
    for s in 0..<random {
        var inputs: [String: Tensor] = [:]
        for (k, p) in f.parameters.enumerated() {
            inputs[p.name] = Tensor.random(f.type(of: p.value), seed: UInt64(100 * s + k + 1))
        }
        sets.append(inputs)
    }
    for s in 0..<special {
        var inputs: [String: Tensor] = [:]
        for (k, p) in f.parameters.enumerated() {
            inputs[p.name] = specialTensor(f.type(of: p.value), offset: 5 * s + 3 * k)
        }
        sets.append(inputs)
    }
    return sets
}

/// The elements' bit patterns, with every NaN the same (NaN payloads and signs are not kept
/// by the optimizer, as documented).
func canonicalBits(_ t: Tensor) -> [UInt64] {
    switch t.storage {
    case .f32(let v): return v.map { $0.isNaN ? 0x7FC0_0000 : UInt64($0.bitPattern) }
    case .f64(let v): return v.map { $0.isNaN ? 0x7FF8_0000_0000_0000 : $0.bitPattern }
    case .i64(let v): return v.map { UInt64(bitPattern: $0) }
    case .bool(let v): return v.map { $0 ? 1 : 0 }
    }
}

enum Comparison {
    /// Bit for bit (NaNs equal).
    case bitwise
    /// Close: relative tolerance with an absolute floor; NaN matches NaN, inf matches inf.
    case close(rtol: Double, atol: Double)
}

/// Asserts that `optimized` computes what `reference` computes, on every input set.
func assertEquivalent(_ reference: Function, _ optimized: Function, _ comparison: Comparison,
                      inputs: [[String: Tensor]]? = nil, _ context: String = "",
                      file: StaticString = #filePath, line: UInt = #line) throws {
    XCTAssertEqual(reference.parameters.map(\.name), optimized.parameters.map(\.name), "parameters (ABI) \(context)", file: file, line: line)
    XCTAssertEqual(reference.outputs.map(\.name), optimized.outputs.map(\.name), "outputs \(context)", file: file, line: line)
    for p in reference.parameters {
        XCTAssertEqual(reference.type(of: p.value), optimized.type(of: optimized.parameters.first { $0.name == p.name }?.value ?? 0),
                       "parameter \(p.name) \(context)", file: file, line: line)
    }
    for (setIndex, set) in (inputs ?? inputSets(reference)).enumerated() {
        let expected = try ReferenceEvaluator.run(reference, inputs: set)
        let got = try ReferenceEvaluator.run(optimized, inputs: set)
        for (k, (e, g)) in zip(expected, got).enumerated() {
            XCTAssertEqual(e.type, g.type, "output \(k) type \(context)", file: file, line: line)
            switch comparison {
            case .bitwise:
                if canonicalBits(e) != canonicalBits(g) {
                    XCTFail("output \(reference.outputs[k].name) differs on input set \(setIndex) \(context):\n expected \(e)\n got      \(g)",
                            file: file, line: line)
                }
            case .close(let rtol, let atol):
                for (a, b) in zip(e.doubles, g.doubles) {
                    if a.isNaN && b.isNaN { continue }
                    if a == b { continue }
                    if abs(a - b) > atol + rtol * max(abs(a), abs(b)) {
                        XCTFail("output \(reference.outputs[k].name) on input set \(setIndex) \(context): \(a) vs \(b)", file: file, line: line)
                        break
                    }
                }
            }
        }
    }
}

/// Parses IR text, expanding derivative requests.
func parseExpanded(_ text: String, file: String = "test.ir") throws -> Module {
    try Differentiator.expand(parseModule(text, file: file))
}

/// Options for a test: explicit passes, verifier on.
func testOptions(_ passes: [OptimizerPass], fastMath: Bool = false) -> OptimizerOptions {
    OptimizerOptions(level: 2, passes: passes, fastMath: fastMath, verify: true)
}
