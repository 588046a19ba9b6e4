import Foundation
import Grad

/// The contract between a float matrix product computed with fused multiply-adds and the
/// reference's, element by element (docs/numerics.md, "Fused multiply-add"):
///
/// ```
/// S = Σₖ |aᵢₖ|·|bₖⱼ|   over the finite operands
/// if S ≤ Ω/2:  same kind (NaN ↔ NaN, the same infinity, finite ↔ finite) and
///              |fused − reference| ≤ 2·γ_K·S + 2·K·η,   γ_K = K·u / (1 − K·u)
/// else:        no promise (a product or partial sum may overflow in one and not the other)
/// ```
///
/// with K the inner dimension, u the unit roundoff (2⁻⁵³ f64, 2⁻²⁴ f32), η the smallest
/// subnormal and Ω the largest finite value. Both results are sums of the same K products, in
/// any order, each within γ_K·S + K·η/2 of the exact sum, whatever the rounding of each step.
public enum MatmulContract {
    /// S for one matmul node, with what the bound needs.
    public struct Magnitudes: Sendable {
        public var dtype: DType
        /// K, the inner dimension.
        public var inner: Int
        /// S of every element, row-major (computed in f64).
        public var s: [Double]
        /// Whether the operands are computed without another float matmul, so a backend sees
        /// the reference's operands and the contract applies to this product's elements.
        public var sameOperands: Bool
    }

    /// S of every float `matmul` node of `f`, from the reference's value of every node.
    public static func magnitudes(_ f: Function, _ values: [Tensor?]) throws -> [ValueID: Magnitudes] {
        var out: [ValueID: Magnitudes] = [:]
        var fromMatmul = [Bool](repeating: false, count: f.nodes.count)
        for (id, node) in f.nodes.enumerated() {
            let isProduct = node.op == .matmul && node.type.dtype.isFloat
            let sameOperands = !node.inputs.contains { fromMatmul[$0] }
            fromMatmul[id] = isProduct || !sameOperands
            guard isProduct else { continue }
            guard let a = values[node.inputs[0]], let b = values[node.inputs[1]] else { continue }
            func magnitude(_ t: Tensor) -> Tensor {
                Tensor(t.type.with(dtype: .f64), doubles: t.doubles.map { $0.isFinite ? Swift.abs($0) : 0 })
            }
            let s = try evaluateOp(.matmul, node.attrs, [magnitude(a), magnitude(b)], resultType: node.type.with(dtype: .f64))
            out[id] = Magnitudes(dtype: node.type.dtype, inner: a.shape.last ?? 1, s: s.doubles, sameOperands: sameOperands)
        }
        return out
    }

    /// Half the largest finite value: up to it, no product or partial sum can overflow.
    static func limit(_ d: DType) -> Double {
        d == .f32 ? Double(Float.greatestFiniteMagnitude) / 2 : Double.greatestFiniteMagnitude / 2
    }

    /// Whether some element is outside the contract (S above the limit).
    public static func mayOverflow(_ m: Magnitudes) -> Bool {
        m.s.contains { $0 > limit(m.dtype) }
    }

    /// The bound on |fused − reference| for an element with magnitude `s`.
    public static func bound(_ s: Double, _ m: Magnitudes) -> Double {
        let (u, eta) = m.dtype == .f32 ? (0x1p-24, Double(Float.leastNonzeroMagnitude)) : (0x1p-53, Double.leastNonzeroMagnitude)
        let k = Double(m.inner)
        let gamma = k * u / (1 - k * u)
        let rounding = 1 + k * 0x1p-52  // S itself was summed in f64
        return 2 * gamma * s * rounding + 2 * k * eta
    }

    /// Whether `got` keeps the contract with `reference` on every element it covers.
    public static func holds(_ got: Tensor, _ reference: Tensor, magnitudes m: Magnitudes) -> Bool {
        guard got.type == reference.type, m.s.count == got.count else { return false }
        for (i, (g, e)) in zip(got.doubles, reference.doubles).enumerated() where m.s[i] <= limit(m.dtype) {
            if g.isNaN || e.isNaN {
                if !(g.isNaN && e.isNaN) { return false }
            } else if g.isInfinite || e.isInfinite {
                if g != e { return false }
            } else if Swift.abs(g - e) > bound(m.s[i], m) {
                return false
            }
        }
        return true
    }
}
