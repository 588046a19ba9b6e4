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
    // Special functions (ScalarMath+Special.swift): libm, or static functions of the file.
    case .lgamma: return call("lgamma")
    case .digamma: return "GRADCPFX_polygamma_\(t.rawValue)(\(zero), \(x[0]))"
    case .erfc: return call("erfc")
    case .log_sigmoid: return "(\(x[0]) < 0 ? \(x[0]) : \(zero)) - log1p\(f)(exp\(f)(-fabs\(f)(\(x[0]))))"
    case .polygamma: return "GRADCPFX_polygamma_\(t.rawValue)(\(x[0]), \(x[1]))"
    case .logaddexp: return "GRADCPFX_logaddexp_\(t.rawValue)(\(x[0]), \(x[1]))"
    case .xlogy: return "((\(x[0]) == 0 && \(x[1]) == \(x[1])) ? \(zero) : \(x[0]) * log\(f)(\(x[1])))"
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
    let called = calledNames(in: code, prefix: "GRADCPFX_")
    var out = cLinalgHelperSource(calling: called)
    for d in [DType.f64, .f32, .i64] {
        let t = cType(d)
        let f = d == .f32 ? "f" : ""
        let (zero, one, half) = d == .f32 ? ("0.0f", "1.0f", "0.5f") : ("0.0", "1.0", "0.5")
        if called.contains("GRADCPFX_floordiv_\(d.rawValue)") {
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
        if d.isFloat, called.contains("GRADCPFX_polygamma_\(d.rawValue)") {
            out += cPolygammaSource(d) + "\n"
        }
        if d.isFloat, called.contains("GRADCPFX_logaddexp_\(d.rawValue)") {
            var w = CWriter()
            w.open("static \(t) GRADCPFX_logaddexp_\(d.rawValue)(\(t) a, \(t) b)")
            w.line("if (a == b) return a + \(cSpecialLiteral(ScalarMath.ln2, d));")
            w.line("const \(t) d = a - b;")
            w.line("if (d > 0) return a + log1p\(f)(exp\(f)(-d));")
            w.line("if (d <= 0) return b + log1p\(f)(exp\(f)(d));")
            w.line("return d;")
            w.close()
            out += w.text + "\n"
        }
        if called.contains("GRADCPFX_mod_\(d.rawValue)") {
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

/// A constant of ScalarMath+Special.swift in C: the f64 value (printed so that it reads back
/// exactly), converted to float for f32 as `T(c)` converts it in Swift.
private func cSpecialLiteral(_ v: Double, _ d: DType) -> String {
    d == .f32 ? "((float)\(v))" : "(\(v))"
}

/// `ScalarMath.polygamma` (with `polygammaPositive` and `polygammaReflected`), step for step,
/// as a static C function computing in `d`.
private func cPolygammaSource(_ d: DType) -> String {
    let t = cType(d)
    let f = d == .f32 ? "f" : ""
    let name = "GRADCPFX_polygamma_\(d.rawValue)"
    func lit(_ v: Double) -> String { cSpecialLiteral(v, d) }
    let size = ScalarMath.polygammaMaxOrder + 2
    var w = CWriter()
    w.line("static \(t) \(name)_positive(int k, \(t) x);")
    w.open("static \(t) \(name)(\(t) n, \(t) x)")
    w.line("if (n != n) return n;")
    w.line("if (x != x) return x;")
    w.line("if (!(n >= 0 && n <= \(ScalarMath.polygammaMaxOrder) && n == floor\(f)(n))) return NAN;")
    w.line("const int k = (int)n;")
    w.line("const int odd = k % 2 == 1;")
    w.line("if (x == 0) return odd ? INFINITY : (signbit(x) ? INFINITY : -INFINITY);")
    w.line("if (x == INFINITY) return k == 0 ? x : (odd ? \(lit(0)) : \(lit(-0.0)));")
    w.line("if (x == -INFINITY) return NAN;")
    w.open("if (x < 0)")
    w.line("if (x == floor\(f)(x)) return odd ? INFINITY : NAN;")
    w.line("const \(t) whole = floor\(f)(x);")
    w.line("\(t) r = x - whole;")
    w.line("if (r > \(lit(0.5))) r = x - (whole + 1);")
    w.line("const \(t) pi = \(lit(Double.pi));")
    w.line("const \(t) a = pi * r;")
    w.line("const \(t) cot = cos\(f)(a) / sin\(f)(a);")
    w.line("\(t) buf[\(2 * size)];")
    w.line("\(t) *p = buf, *q = buf + \(size), *tmp;")
    w.line("for (int i = 0; i < \(size); i++) p[i] = 0;")
    w.line("p[1] = 1;")
    w.line("int degree = 1;")
    w.open("for (int step = 0; step < k; step++)")
    w.line("for (int i = 0; i < degree + 2; i++) q[i] = 0;")
    w.open("for (int i = 1; i <= degree; i++)")
    w.line("const \(t) c = (\(t))i * p[i];")
    w.line("q[i - 1] = q[i - 1] - c;")
    w.line("q[i + 1] = q[i + 1] - c;")
    w.close()
    w.line("tmp = p; p = q; q = tmp;")
    w.line("degree += 1;")
    w.close()
    w.line("\(t) horner = 0;")
    w.line("for (int j = degree; j >= 0; j--) horner = horner * cot + p[j];")
    w.line("\(t) piPower = pi;")
    w.line("for (int e = 0; e < k; e++) piPower = piPower * pi;")
    w.line("const \(t) mirrored = \(name)_positive(k, 1 - x);")
    w.line("return (k % 2 == 0 ? mirrored : -mirrored) - piPower * horner;")
    w.close()
    w.line("return \(name)_positive(k, x);")
    w.close()
    w.line("")
    w.open("static \(t) \(name)_positive(int k, \(t) x)")
    w.open("if (k == 0)")
    w.line("const \(t) d0 = x - \(lit(ScalarMath.digammaRootHi));")
    w.open("if (fabs\(f)(d0) < \(lit(0.25)))")
    w.line("const \(t) d = d0 - \(lit(ScalarMath.digammaRootLo));")
    w.line("\(t) acc = 0;")
    for c in ScalarMath.digammaRootTaylor.reversed() { w.line("acc = acc * d + \(lit(c));") }
    w.line("return acc * d;")
    w.close()
    w.close()
    w.line("\(t) fact = 1;")
    w.line("for (int i = 1; i <= k; i++) fact = fact * (\(t))i;")
    w.line("const \(t) threshold = (\(t))(10 + 2 * k);")
    w.line("\(t) acc = 0;")
    w.line("int m = 0;")
    w.open("while (x + (\(t))m < threshold)")
    w.line("const \(t) z = x + (\(t))m;")
    w.open("if (k == 0)")
    w.line("acc = acc - 1 / z;")
    w.close()
    w.open("else")
    w.line("\(t) p = z;")
    w.line("for (int e = 0; e < k; e++) p = p * z;")
    w.line("acc = acc + fact / p;")
    w.close()
    w.line("m += 1;")
    w.close()
    w.line("const \(t) z = x + (\(t))m;")
    w.line("const \(t) t = 1 / z;")
    w.line("const \(t) t2 = t * t;")
    w.line("\(t) p = t2;")
    w.line("\(t) s = 0;")
    w.open("if (k == 0)")
    for c in ScalarMath.digammaAsymptotic {
        w.line("s = s + \(lit(c)) * p;")
        w.line("p = p * t2;")
    }
    w.line("return acc + (log\(f)(z) - \(lit(0.5)) * t - s);")
    w.close()
    w.line("\(t) fk = fact * (\(t))(k + 1) / 2;")
    for (i, b) in ScalarMath.bernoulli.enumerated() {
        let j = i + 1
        w.line("s = s + \(lit(b)) * fk * p;")
        w.line("p = p * t2;")
        w.line("fk = fk * (\(t))(\(2 * j) + k) * (\(t))(\(2 * j + 1) + k) / ((\(t))\(2 * j + 1) * (\(t))\(2 * j + 2));")
    }
    w.line("\(t) tk = 1;")
    w.line("for (int e = 0; e < k; e++) tk = tk * t;")
    w.line("const \(t) total = acc + (fact / (\(t))k + fact * \(lit(0.5)) * t + s) * tk;")
    w.line("return k % 2 == 1 ? total : -total;")
    w.close()
    return w.text
}
