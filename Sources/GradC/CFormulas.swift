import GradRuntime
// The C spelling of every elementwise op: a literal copy of the formulas documented in
// GradRuntime/ScalarMath.swift (the one numeric truth).

/// The C expression of elementwise `op` on operand expressions `x` (variables, so they may be
/// repeated), computing in `t` (the op's compute dtype).
func cElementwise(_ op: ElementwiseOp, _ x: [String], _ t: DType) -> String {
    let real = t.isFloat
    let f = t == .f32 ? "f" : ""
    let one = t == .f32 ? "1.0f" : "1.0"
    let zero = t == .f32 ? "0.0f" : "0.0"
    func call(_ name: String) -> String { "\(name)\(f)(\(x[0]))" }
    func wrap(_ expr: String) -> String { "(int64_t)(\(expr))" }
    switch op {
    case .neg: return real ? "-\(x[0])" : wrap("0 - (uint64_t)\(x[0])")
    case .abs: return real ? "fabs\(f)(\(x[0]))" : "(\(x[0]) < 0 ? \(wrap("0 - (uint64_t)\(x[0])")) : \(x[0]))"
    case .sign:
        return real ? "(\(x[0]) > 0 ? \(one) : (\(x[0]) < 0 ? -\(one) : \(x[0])))"
            : "(\(x[0]) > 0 ? INT64_C(1) : (\(x[0]) < 0 ? INT64_C(-1) : INT64_C(0)))"
    case .exp: return call("exp")
    case .log: return call("log")
    case .log1p: return call("log1p")
    case .expm1: return call("expm1")
    case .sqrt: return call("sqrt")
    case .rsqrt: return "\(one) / sqrt\(f)(\(x[0]))"
    case .square: return real ? "\(x[0]) * \(x[0])" : wrap("(uint64_t)\(x[0]) * (uint64_t)\(x[0])")
    case .reciprocal: return "\(one) / \(x[0])"
    case .sin: return call("sin")
    case .cos: return call("cos")
    case .tan: return call("tan")
    case .tanh: return call("tanh")
    case .sigmoid: return "\(one) / (\(one) + exp\(f)(-\(x[0])))"
    case .relu: return real ? "(\(x[0]) > 0 ? \(x[0]) : (\(x[0]) != \(x[0]) ? \(x[0]) : \(zero)))" : "(\(x[0]) > 0 ? \(x[0]) : INT64_C(0))"
    case .softplus: return "(\(x[0]) > 0 ? \(x[0]) : \(zero)) + log1p\(f)(exp\(f)(-fabs\(f)(\(x[0]))))"
    case .erf: return call("erf")
    case .floor: return call("floor")
    case .ceil: return call("ceil")
    case .add: return real ? "\(x[0]) + \(x[1])" : wrap("(uint64_t)\(x[0]) + (uint64_t)\(x[1])")
    case .sub: return real ? "\(x[0]) - \(x[1])" : wrap("(uint64_t)\(x[0]) - (uint64_t)\(x[1])")
    case .mul: return real ? "\(x[0]) * \(x[1])" : wrap("(uint64_t)\(x[0]) * (uint64_t)\(x[1])")
    case .div: return "\(x[0]) / \(x[1])"
    case .pow: return "pow\(f)(\(x[0]), \(x[1]))"
    case .atan2: return "atan2\(f)(\(x[0]), \(x[1]))"
    // ScalarMath.floordiv/mod: several steps, in static functions of the file (`cHelperSource`).
    case .floordiv: return "GRADCPFX_floordiv_\(t.rawValue)(\(x[0]), \(x[1]))"
    case .mod: return "GRADCPFX_mod_\(t.rawValue)(\(x[0]), \(x[1]))"
    // ScalarMath.zmul/zdiv: the product (quotient), or `a` where that is NaN and `a` is 0.
    case .zmul: return "((\(x[0]) * \(x[1]) != \(x[0]) * \(x[1]) && \(x[0]) == 0) ? \(x[0]) : \(x[0]) * \(x[1]))"
    case .zdiv: return "((\(x[0]) / \(x[1]) != \(x[0]) / \(x[1]) && \(x[0]) == 0) ? \(x[0]) : \(x[0]) / \(x[1]))"
    case .maximum: return cMaximum(x[0], x[1], real: real)
    case .minimum: return cMinimum(x[0], x[1], real: real)
    case .eq: return "(\(x[0]) == \(x[1]))"
    case .ne: return "(\(x[0]) != \(x[1]))"
    case .lt: return "(\(x[0]) < \(x[1]))"
    case .le: return "(\(x[0]) <= \(x[1]))"
    case .gt: return "(\(x[0]) > \(x[1]))"
    case .ge: return "(\(x[0]) >= \(x[1]))"
    case .select: return "(\(x[0]) ? \(x[1]) : \(x[2]))"
    }
}

/// `ScalarMath.maximum`: NaN-propagating, `a` on a tie.
func cMaximum(_ a: String, _ b: String, real: Bool) -> String {
    real ? "(\(a) != \(a) ? \(a) : (\(b) != \(b) ? \(b) : (\(b) > \(a) ? \(b) : \(a))))" : "(\(b) > \(a) ? \(b) : \(a))"
}

/// `ScalarMath.minimum`: NaN-propagating, `a` on a tie.
func cMinimum(_ a: String, _ b: String, real: Bool) -> String {
    real ? "(\(a) != \(a) ? \(a) : (\(b) != \(b) ? \(b) : (\(b) < \(a) ? \(b) : \(a))))" : "(\(b) < \(a) ? \(b) : \(a))"
}

/// `cast` of `x` from `from` to `to` (the rules of `castKernel`).
func cCast(_ x: String, from: DType, to: DType) -> String {
    if from == to { return x }
    switch (from, to) {
    case (.f32, .i64): return "((\(x) >= -0x1p63f && \(x) < 0x1p63f) ? (int64_t)\(x) : INT64_C(0))"
    case (.f64, .i64): return "((\(x) >= -0x1p63 && \(x) < 0x1p63) ? (int64_t)\(x) : INT64_C(0))"
    case (_, .bool): return "(\(x) != 0)"
    default: return "(\(cLocalType(to)))\(x)"
    }
}

/// The static C functions of the elementwise ops whose formula takes several steps
/// (`floordiv`, `mod`: ScalarMath.floordiv/mod, step for step), for every one that `code`
/// calls. Emitted before the functions, only when used, so other files are unchanged.
func cHelperSource(usedIn code: String) -> String {
    var out = cLinalgHelperSource(usedIn: code)
    for d in [DType.f64, .f32, .i64] {
        let t = cType(d)
        let f = d == .f32 ? "f" : ""
        let (zero, one, half) = d == .f32 ? ("0.0f", "1.0f", "0.5f") : ("0.0", "1.0", "0.5")
        if code.contains("GRADCPFX_floordiv_\(d.rawValue)(") {
            var w = CWriter()
            w.open("static \(t) GRADCPFX_floordiv_\(d.rawValue)(\(t) a, \(t) b)")
            if d == .i64 {
                w.line("if (b == 0) return 0;")
                w.line("if (b == -1) return (int64_t)(0 - (uint64_t)a);")
                w.line("const int64_t q = a / b;")
                w.line("return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;")
            } else {
                w.line("if (b == 0) return a / b;")
                w.line("const \(t) r = fmod\(f)(a, b);")
                w.line("\(t) d = (a - r) / b;")
                w.line("if (r != 0 && (b < 0) != (r < 0)) d = d - \(one);")
                w.line("if (d == 0) return copysign\(f)(\(zero), a / b);")
                w.line("\(t) q = floor\(f)(d);")
                w.line("if (d - q > \(half)) q = q + \(one);")
                w.line("return q;")
            }
            w.close()
            out += w.text + "\n"
        }
        if code.contains("GRADCPFX_mod_\(d.rawValue)(") {
            var w = CWriter()
            w.open("static \(t) GRADCPFX_mod_\(d.rawValue)(\(t) a, \(t) b)")
            if d == .i64 {
                w.line("if (b == 0 || b == -1) return 0;")
                w.line("const int64_t r = a % b;")
                w.line("return (r != 0 && (r < 0) != (b < 0)) ? r + b : r;")
            } else {
                w.line("const \(t) r = fmod\(f)(a, b);")
                w.line("if (b == 0) return r;")
                w.line("if (r == 0) return copysign\(f)(\(zero), b);")
                w.line("return ((b < 0) != (r < 0)) ? r + b : r;")
            }
            w.close()
            out += w.text + "\n"
        }
    }
    return out
}
