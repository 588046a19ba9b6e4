/// Algebraic simplification that is exact in IEEE arithmetic: each rewrite computes the same
/// bits as the original for every input, including ±0, ±inf, NaN and subnormals (NaN payloads
/// and the sign of a NaN aside).
///
/// ```
/// x·1 → x        1·x → x        x/1 → x        x·(−1) → −x     x/(−1) → −x
/// x + (−0) → x   (−0) + x → x   x − (+0) → x   (−0) − x → −x
/// x + (−y) → x − y   (−y) + x → x − y   x − (−y) → x + y
/// −(−x) → x      |−x| → |x|     ||x|| → |x|    pow(x, 1) → x    pow(x, ±0) → 1 (C: even for NaN)
/// select(true, a, b) → a   select(false, a, b) → b   select(c, a, a) → a
/// zmul(a, c) → a·c  (c a finite constant)     zmul(c, b) → c·b  (c a non-zero constant)
/// zdiv(a, c) → a/c  (c a non-zero, non-NaN constant)     zdiv(c, b) → c/b  (c non-zero)
/// ```
/// (The last four: a constant that cannot meet the strong-zero case makes `zmul`/`zdiv` the
/// ordinary product or quotient, bit for bit; the `mul`/`div` rules then apply.)
/// (A result that must broadcast to the node's shape becomes `broadcast_to`.)
///
/// Rules that are NOT exact and never run by default: `x + 0 → x` (−0 + 0 = +0), `x·0 → 0`
/// (inf·0 = NaN), `x − x → 0`, `x/x → 1`, `0/x → 0`, `1/(1/x) → x`, `pow(x, 2) → x·x` (C `pow`
/// is not correctly rounded when x² needs rounding to a tie). With `fastMath` the pass also
/// applies `x·0 → 0`, `0·x → 0`, `x + 0 → x`, `x − x → 0`, `x/x → 1`, `0/x → 0`,
/// `pow(x, 2) → square(x)`, `reciprocal(reciprocal(x)) → x`.
///
/// `pow(x, 1) → x` is exact: C `pow` is faithful with internal error far below half an ulp,
/// and x is representable, so it returns x exactly (tested on special values).
struct SimplifyPass: LocalRewrite {
    var fastMath: Bool

    mutating func rewrite(_ node: Node, _ r: inout Rewriter) throws(Diagnostic) -> ValueID? {
        let t = node.type
        guard t.dtype.isFloat || node.op == .select || node.op == .cast else { return nil }
        func operand(_ k: Int) -> ValueID { node.inputs[k] }
        func bcast(_ x: ValueID) throws(Diagnostic) -> ValueID? { try r.broadcast(x, to: t, like: node) }
        func negate(_ x: ValueID) throws(Diagnostic) -> ValueID? {
            guard r.type(x) == t else { return nil }
            if r.op(x) == .neg { return r.inputs(x)[0] }
            return try r.emit(.neg, [x], like: node)
        }
        /// A splat constant's value as the kernels see it (rounded to f32 for f32 tensors).
        func constantValue(_ x: ValueID) -> Double? {
            guard let v = r.splat(x) else { return nil }
            return t.dtype == .f32 ? Double(Float(v)) : v
        }
        switch node.op {
        case .mul:
            let (a, b) = (operand(0), operand(1))
            if r.isSplat(b, 1) { return try bcast(a) }
            if r.isSplat(a, 1) { return try bcast(b) }
            if r.isSplat(b, -1) { return try negate(a) }
            if r.isSplat(a, -1) { return try negate(b) }
            if fastMath, r.splat(b) == 0 || r.splat(a) == 0 { return r.constant(0, t, like: node) }
        case .div:
            let (a, b) = (operand(0), operand(1))
            if r.isSplat(b, 1) { return try bcast(a) }
            if r.isSplat(b, -1) { return try negate(a) }
            if fastMath {
                if a == b { return r.constant(1, t, like: node) }
                if r.splat(a) == 0 { return r.constant(0, t, like: node) }
            }
        case .add:
            let (a, b) = (operand(0), operand(1))
            if r.isSplat(b, -0.0) { return try bcast(a) }
            if r.isSplat(a, -0.0) { return try bcast(b) }
            if fastMath {
                if r.splat(b) == 0 { return try bcast(a) }
                if r.splat(a) == 0 { return try bcast(b) }
            }
            if r.op(b) == .neg { return try r.emit(.sub, [a, r.inputs(b)[0]], like: node) }
            if r.op(a) == .neg { return try r.emit(.sub, [b, r.inputs(a)[0]], like: node) }
        case .sub:
            let (a, b) = (operand(0), operand(1))
            if r.isSplat(b, 0) { return try bcast(a) }
            if r.isSplat(a, -0.0) { return try negate(b) }
            if fastMath {
                if a == b { return r.constant(0, t, like: node) }
                if r.splat(b) == 0 { return try bcast(a) }
                if r.splat(a) == 0 { return try negate(b) }
            }
            if r.op(b) == .neg { return try r.emit(.add, [a, r.inputs(b)[0]], like: node) }
        case .zmul:
            let (a, b) = (operand(0), operand(1))
            if let v = constantValue(b), v.isFinite { return try r.emit(.mul, [a, b], like: node) }
            if let v = constantValue(a), v != 0 { return try r.emit(.mul, [a, b], like: node) }
        case .zdiv:
            let (a, b) = (operand(0), operand(1))
            if let v = constantValue(b), v != 0, !v.isNaN { return try r.emit(.div, [a, b], like: node) }
            if let v = constantValue(a), v != 0 { return try r.emit(.div, [a, b], like: node) }
        case .neg:
            let x = operand(0)
            if r.op(x) == .neg { return r.inputs(x)[0] }
        case .abs:
            let x = operand(0)
            if r.op(x) == .neg || r.op(x) == .abs { return try r.emit(.abs, [r.inputs(x)[0]], like: node) }
        case .pow:
            let (a, b) = (operand(0), operand(1))
            if r.isSplat(b, 1) { return try bcast(a) }
            if let e = r.splat(b), e == 0 { return r.constant(1, t, like: node) }
            if fastMath, r.isSplat(b, 2), r.type(a) == t { return try r.emit(.square, [a], like: node) }
        case .reciprocal:
            let x = operand(0)
            if fastMath, r.op(x) == .reciprocal { return r.inputs(x)[0] }
        case .select:
            let (c, a, b) = (operand(0), operand(1), operand(2))
            if a == b { return try bcast(a) }
            if let v = r.splat(c) { return try bcast(v != 0 ? a : b) }
        case .cast:
            let x = operand(0)
            if r.type(x) == t { return x }
        default:
            break
        }
        return nil
    }
}
