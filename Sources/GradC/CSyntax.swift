import GradRuntime
// Small pieces of C syntax: types, literals, the text buffer.

/// C spelling of a dtype's element type in buffers.
func cType(_ d: DType) -> String {
    switch d {
    case .f32: return "float"
    case .f64: return "double"
    case .i64: return "int64_t"
    case .bool: return "uint8_t"
    }
}

/// C type of a value held in a local variable (booleans compute as `int` 0/1).
func cLocalType(_ d: DType) -> String {
    d == .bool ? "int" : cType(d)
}

/// An exact C literal of `v` in dtype `d` (hexadecimal floating point for reals, so the
/// compiler reads back exactly the same number).
func cLiteral(_ v: Double, _ d: DType) -> String {
    switch d {
    case .f64:
        return hexFloat(v, suffix: "")
    case .f32:
        return hexFloat(Double(Float(v)), suffix: "f")
    case .i64:
        let i = ScalarMath.toInt64(v)
        return cInt64Literal(i)
    case .bool:
        return v != 0 ? "1" : "0"
    }
}

func cInt64Literal(_ i: Int64) -> String {
    if i == Int64.min { return "INT64_MIN" }
    return "INT64_C(\(i))"
}

/// `0x1.8p+1` style text of `v`; `NAN`, `INFINITY` for the specials (float-typed macros, exact
/// in both precisions).
func hexFloat(_ v: Double, suffix: String) -> String {
    if v.isNaN { return v.sign == .minus ? "(-NAN)" : "NAN" }
    if v.isInfinite { return v < 0 ? "(-INFINITY)" : "INFINITY" }
    let sign = v.sign == .minus ? "-" : ""
    if v == 0 { return "(\(sign)0x0p+0\(suffix))" }
    let bits = v.bitPattern
    let rawExponent = Int((bits >> 52) & 0x7ff)
    let fraction = bits & ((1 << 52) - 1)
    var digits = String(fraction, radix: 16)
    digits = String(repeating: "0", count: 13 - digits.count) + digits
    while digits.hasSuffix("0") { digits.removeLast() }
    let lead = rawExponent == 0 ? "0" : "1"
    let exponent = rawExponent == 0 ? -1022 : rawExponent - 1023
    let body = digits.isEmpty ? lead : lead + "." + digits
    let e = exponent >= 0 ? "+\(exponent)" : "\(exponent)"
    return "\(sign)(0x\(body)p\(e)\(suffix))"
}

/// A growing C source text with indentation.
struct CWriter {
    var text = ""
    var level = 0

    mutating func line(_ s: String) {
        if s.isEmpty {
            text += "\n"
            return
        }
        text += String(repeating: "    ", count: level)
        text += s
        text += "\n"
    }

    mutating func open(_ s: String) {
        line(s.isEmpty ? "{" : s + " {")
        level += 1
    }

    mutating func close(_ suffix: String = "") {
        level -= 1
        line("}" + suffix)
    }
}

/// A C comment's text: anything outside `[A-Za-z0-9_ .,:=%()\[\]@+-]` becomes `_`, so no
/// user text and no `*/` can ever end up in a comment.
func cCommentSafe(_ s: String) -> String {
    var out = ""
    for u in s.unicodeScalars {
        switch u {
        case "a"..."z", "A"..."Z", "0"..."9", "_", " ", ".", ",", ":", "=", "%", "(", ")", "[", "]", "@", "+", "-":
            out.unicodeScalars.append(u)
        default:
            out += "_"
        }
    }
    return out
}
