import Grad
@testable import GradIR
import TestSupport
import XCTest

/// Exactness on random instances of the data-movement and linear ops (random shapes, axes,
/// strides, padding, permutations and constant indices, negative ones included): these are
/// linear with non-zero coefficients, so at a random point the dense Jacobian's non-zeros are
/// exactly the structural ones, and the pattern must equal them.
final class LinearOpPropertyTests: XCTestCase {
    var rng = SplitMix64(seed: 2026)

    func int(_ r: ClosedRange<Int>) -> Int { Int.random(in: r, using: &rng) }
    func shape() -> [Int] { (0..<int(1...3)).map { _ in int(1...4) } }

    /// Builds y = op(x) for a random instance of one op, or nil when the draw does not apply.
    func instance(_ k: Int, _ fb: FunctionBuilder, _ x: Value) throws -> Value? {
        let s = x.shape
        let rank = s.count
        let axis = int(0...(rank - 1))
        switch k {
        case 0:
            let start = s.map { int(0...($0 - 1)) }
            let stop = zip(start, s).map { int(($0 + 1)...$1) }
            let step = s.map { _ in int(1...3) }
            return try fb.apply(.slice, [x], Attributes([.start: .ints(start), .stop: .ints(stop), .step: .ints(step)]))
        case 1:
            let low = s.map { _ in int(0...2) }, high = s.map { _ in int(0...2) }, step = s.map { _ in int(1...3) }
            return try fb.apply(.pad, [x], Attributes([.low: .ints(low), .high: .ints(high), .step: .ints(step)]))
        case 2:
            var perm = Array(0..<rank)
            perm.shuffle(using: &rng)
            return try fb.apply(.transpose, [x], Attributes([.perm: .ints(perm)]))
        case 3:
            return try fb.apply(.cumsum, [x], Attributes([.axis: .int(axis), .reverse: .bool(int(0...1) == 0)]))
        case 4:
            let axes = (0..<rank).filter { _ in int(0...1) == 0 }
            return try fb.apply(.sum, [x], Attributes([.axes: .ints(axes.isEmpty ? [axis] : axes), .keepdims: .bool(int(0...1) == 0)]))
        case 5:
            return try fb.apply(.concat, [x, fb.apply(.neg, [x])], Attributes([.axis: .int(axis)]))
        case 6:
            return try fb.apply(.broadcast_to, [x], Attributes([.shape: .ints([2] + s)]))
        case 7, 8:
            // take with a constant index of rank 1 or 2.
            let idxShape = k == 7 ? [int(1...4)] : [int(1...2), int(1...3)]
            let n = s[axis]
            let values = (0..<idxShape.reduce(1, *)).map { _ in Double(int(-n...(n - 1))) }
            let idx = try fb.constant(values: values, .i64, idxShape)
            return try fb.apply(.take, [x, idx], Attributes([.axis: .int(axis)]))
        case 9:
            var idxShape = s
            idxShape[axis] = int(1...3)
            let n = s[axis]
            let values = (0..<idxShape.reduce(1, *)).map { _ in Double(int(-n...(n - 1))) }
            let idx = try fb.constant(values: values, .i64, idxShape)
            return try fb.apply(.take_along_axis, [x, idx], Attributes([.axis: .int(axis)]))
        case 10:
            // scatter x into a base along axis with a constant index (updates = x).
            var base = s
            base[axis] = int(1...4)
            let n = base[axis]
            let values = (0..<s[axis]).map { _ in Double(int(-n...(n - 1))) }
            let idx = try fb.constant(values: values, .i64, [s[axis]])
            let zeros = try fb.constant(0, .f64, base)
            return try fb.apply(.scatter_add, [zeros, idx, x], Attributes([.axis: .int(axis)]))
        default:
            var base = s
            base[axis] = int(1...4)
            let n = base[axis]
            let values = (0..<s.reduce(1, *)).map { _ in Double(int(-n...(n - 1))) }
            let idx = try fb.constant(values: values, .i64, s)
            let zeros = try fb.constant(0, .f64, base)
            return try fb.apply(.scatter_add_along_axis, [zeros, idx, x], Attributes([.axis: .int(axis)]))
        }
    }

    func testPatternsEqualTheDenseNonZeros() throws {
        var checked = 0
        for trial in 0..<240 {
            let fb = FunctionBuilder("p\(trial)")
            let x = try fb.input("x", .f64, shape())
            let k = trial % 12
            guard let y = try instance(k, fb, x), y.type.count > 0 else { continue }
            try fb.output(y, "y")
            let f = fb.function
            let p = try Sparsity.jacobian(of: y.id, wrt: x.id, in: f)
            let dense = try denseJacobian(f, y.id, x.id, randomInputs(f, seed: UInt64(trial)))
            XCTAssertEqual(rowsOf(p), observedPattern([dense], rows: p.rows, columns: p.columns),
                           "trial \(trial), \(f.nodes[y.id].op.name) of \(x.type) → \(y.type) \(f.nodes[y.id].attrs)")
            checked += 1
        }
        XCTAssertGreaterThan(checked, 200)
    }
}

/// Exactness of products on random instances: broadcasting products, batched matmul with
/// broadcast batch dimensions, products with reductions. Jacobians and Hessians of these
/// multilinear maps have exactly their structural non-zeros at a random point.
final class ProductPropertyTests: XCTestCase {
    var rng = SplitMix64(seed: 77)

    func int(_ r: ClosedRange<Int>) -> Int { Int.random(in: r, using: &rng) }

    func instance(_ k: Int, _ fb: FunctionBuilder) throws -> (Value, Value) {
        switch k {
        case 0:
            // x * sum(x over an axis), broadcast back.
            let x = try fb.input("x", .f64, [int(1...3), int(1...3), int(1...2)])
            let axis = int(0...2)
            return (x, try fb.apply(.mul, [x, fb.apply(.sum, [x], Attributes([.axes: .ints([axis]), .keepdims: .bool(true)]))]))
        case 1:
            // A batched matmul of two slices of one vector, batch dimensions broadcast.
            let (b, m, kk, n) = (int(1...2), int(1...3), int(1...3), int(1...3))
            let x = try fb.input("x", .f64, [b * m * kk + kk * n])
            let a = try fb.apply(.reshape, [fb.apply(.slice, [x], Attributes([.start: .ints([0]), .stop: .ints([b * m * kk]), .step: .ints([1])]))],
                                 Attributes([.shape: .ints([b, m, kk])]))
            let w = try fb.apply(.reshape, [fb.apply(.slice, [x], Attributes([.start: .ints([b * m * kk]), .stop: .ints([b * m * kk + kk * n]), .step: .ints([1])]))],
                                 Attributes([.shape: .ints([1, kk, n])]))
            return (x, try fb.apply(.matmul, [a, w]))
        default:
            // An outer product through broadcasting: x[:, None] * x[None, :] on a slice.
            let n = int(2...4)
            let x = try fb.input("x", .f64, [n])
            let col = try fb.apply(.expand_dims, [x], Attributes([.axis: .int(1)]))
            let row = try fb.apply(.expand_dims, [fb.apply(.slice, [x], Attributes([.start: .ints([1]), .stop: .ints([n]), .step: .ints([1])]))],
                                   Attributes([.axis: .int(0)]))
            return (x, try fb.apply(.mul, [col, row]))
        }
    }

    func testJacobiansAndHessiansEqualTheDenseNonZeros() throws {
        for trial in 0..<60 {
            let fb = FunctionBuilder("q\(trial)")
            let (x, y) = try instance(trial % 3, fb)
            let loss = try fb.apply(.sum, [fb.apply(.mul, [y, fb.constant(1.5, .f64)])])
            try fb.output(y, "y")
            try fb.output(loss, "loss")
            let f = fb.function
            let what = "trial \(trial): \(f.nodes[y.id].op.name) \(x.type) → \(y.type)"
            let inputs = randomInputs(f, seed: UInt64(trial) + 100)
            let p = try Sparsity.jacobian(of: y.id, wrt: x.id, in: f)
            let dense = try denseJacobian(f, y.id, x.id, inputs)
            XCTAssertEqual(rowsOf(p), observedPattern([dense], rows: p.rows, columns: p.columns), what)
            let h = try Sparsity.hessian(of: loss.id, wrt: x.id, in: f)
            let denseH = try denseHessian(f, loss.id, x.id, inputs)
            XCTAssertEqual(rowsOf(h), observedPattern([denseH], rows: h.rows, columns: h.columns), "Hessian, " + what)
        }
    }
}
