/// Hints for names gradc does not know: the closest known name by edit distance, and the
/// gradc spelling of common NumPy and PyTorch names (`where` → `select`, `x ** 2` → `x ^ 2`,
/// `x.T` → `transpose(x)`). Only error paths use them.
public enum Suggestions {
    /// `did you mean 'NAME'?` for the candidate closest to `name`, if one is close enough:
    /// none for names of 1 or 2 characters (one edit makes any other short name), at most 1
    /// edit for names of up to 4 characters, 2 up to 8, 3 beyond (insertions,
    /// deletions, substitutions and swaps of neighbours; case differences count as edits).
    /// Ties go to the candidate listed first.
    public static func didYouMean(_ name: String, among candidates: [String]) -> String? {
        closest(to: name, among: candidates).map { "did you mean '\($0)'?" }
    }

    /// The candidate closest to `name` (see `didYouMean`), never `name` itself.
    public static func closest(to name: String, among candidates: [String]) -> String? {
        let typed = Array(name.unicodeScalars)
        guard typed.count > 2 else { return nil }
        let budget = typed.count <= 4 ? 1 : typed.count <= 8 ? 2 : 3
        var best: (name: String, distance: Int)? = nil
        for c in candidates where c != name {
            let d = editDistance(typed, Array(c.unicodeScalars), limit: best.map { $0.distance - 1 } ?? budget)
            if let d, d <= budget, d < (best?.distance ?? Int.max) { best = (c, d) }
        }
        return best?.name
    }

    /// Optimal-string-alignment distance between `a` and `b`, or `nil` when it exceeds `limit`.
    static func editDistance(_ a: [Unicode.Scalar], _ b: [Unicode.Scalar], limit: Int) -> Int? {
        guard limit >= 0, Swift.abs(a.count - b.count) <= limit else { return nil }
        if a.isEmpty || b.isEmpty { return Swift.max(a.count, b.count) }
        var before = [Int](repeating: 0, count: b.count + 1)
        var previous = Array(0...b.count)
        var row = [Int](repeating: 0, count: b.count + 1)
        for i in 1...a.count {
            row[0] = i
            var rowMin = i
            for j in 1...b.count {
                let cost = a[i - 1] == b[j - 1] ? 0 : 1
                var d = Swift.min(previous[j] + 1, row[j - 1] + 1, previous[j - 1] + cost)
                if i > 1, j > 1, a[i - 1] == b[j - 2], a[i - 2] == b[j - 1] { d = Swift.min(d, before[j - 2] + 1) }
                row[j] = d
                rowMin = Swift.min(rowMin, d)
            }
            if rowMin > limit { return nil }
            (before, previous, row) = (previous, row, before)
        }
        let d = previous[b.count]
        return d <= limit ? d : nil
    }

    // MARK: Unknown callees and names

    /// The names a call may use besides the file's functions: every op but `input`, and the
    /// constant sugar.
    static var calleeNames: [String] {
        Op.allCases.filter { $0 != .input }.map(\.name) + ["zeros", "ones", "fill"]
    }

    /// What to write instead of the unknown callee `name`: the gradc spelling of a NumPy or
    /// PyTorch name, else the closest op or function (`functions`: those defined so far).
    public static func unknownCallee(_ name: String, functions: [String]) -> String? {
        if let foreign = foreignCallee(name) { return foreign }
        return didYouMean(name, among: calleeNames + functions)
    }

    /// What to write instead of the undefined name `name`: the closest name in scope (or
    /// function or op), a named constant's digits, or how to call an op.
    public static func undefinedName(_ name: String, inScope: [String], functions: [String]) -> String? {
        switch name {
        case "pi": return "there are no named constants: write 3.141592653589793"
        case "e": return "there are no named constants: write 2.718281828459045, or exp(1)"
        case "True", "False": return "comparisons give bool values; there are no bool literals in expressions"
        case "f32", "f64", "i64", "bool": return "'\(name)' is a dtype, not a value: give it as an attribute, as in cast(x, dtype=\(name))"
        default: break
        }
        if Op(rawValue: name) != nil || functions.contains(name) || sugarNames.contains(name) {
            return "'\(name)' is \(Op(rawValue: name) != nil ? "an op" : "a function"): call it, as in \(name)(…)"
        }
        return didYouMean(name, among: inScope) ?? didYouMean(name, among: functions + calleeNames)
    }

    /// gradc's spelling of a NumPy or PyTorch function, if `name` is one. Ops that another
    /// version of gradc may lack (`take`, `iota`) are suggested only when they exist.
    static func foreignCallee(_ name: String) -> String? {
        let has = { (op: String) in Op(rawValue: op) != nil }
        switch name {
        case "where":
            return "select(cond, a, b) is NumPy's where(cond, a, b)"
        case "gather", "take_along_axis", "index_select":
            return has("take") ? "did you mean 'take'? (gradc's gather: gradc doc ops)"
                : "pick rows with a one-hot matrix: one_hot(indices, depth=n) @ x"
        case "eye", "identity":
            return "an identity matrix is eye(n, dtype=…)"
        case "clip", "clamp":
            return "clip(x, lo, hi) is minimum(maximum(x, lo), hi)"
        case "mm", "bmm", "einsum":
            return "matrix products are a @ b (or matmul(a, b)), batched over leading axes"
        case "power": return "did you mean 'pow'? (or x ^ y)"
        case "multiply": return "write a * b (or mul(a, b))"
        case "divide", "true_divide": return "write a / b (or div(a, b))"
        case "subtract": return "write a - b (or sub(a, b))"
        case "negative": return "write -x (or neg(x))"
        case "absolute": return "did you mean 'abs'?"
        case "concatenate", "cat": return "did you mean 'concat'? (concat(a, b, axis=k))"
        case "unsqueeze": return "did you mean 'expand_dims'? (expand_dims(x, axis=k))"
        case "permute": return "did you mean 'transpose'? (transpose(x, perm=[…]))"
        case "view", "flatten", "ravel": return "did you mean 'reshape'? (reshape(x, shape=[-1]) flattens)"
        case "expand", "tile", "repeat": return "did you mean 'broadcast_to'? (broadcast_to(x, shape=[…]))"
        case "astype", "to", "float", "double": return "did you mean 'cast'? (cast(x, dtype=f64))"
        case "amax", "reduce_max": return "did you mean 'max'? (max(x, axes=[…]); elementwise: maximum(a, b))"
        case "amin", "reduce_min": return "did you mean 'min'? (min(x, axes=[…]); elementwise: minimum(a, b))"
        case "reduce_sum": return "did you mean 'sum'?"
        case "reduce_mean", "average": return "did you mean 'mean'?"
        case "cross_entropy", "nll_loss": return "did you mean 'softmax_cross_entropy'? (softmax_cross_entropy(logits, labels))"
        case "logistic", "expit": return "did you mean 'sigmoid'?"
        case "zeros_like", "ones_like", "full", "full_like": return "constants are zeros(shape=[…], dtype=…), ones(…) or fill(shape=[…], value=v)"
        case "arange": return has("iota") ? "did you mean 'iota'?" : nil
        case "greater": return "write a > b (or gt(a, b))"
        case "less": return "write a < b (or lt(a, b))"
        case "equal": return "write a == b (or eq(a, b))"
        case "not_equal": return "write a != b (or ne(a, b))"
        case "greater_equal": return "write a >= b (or ge(a, b))"
        case "less_equal": return "write a <= b (or le(a, b))"
        default: return nil
        }
    }

    // MARK: Syntax from other languages

    /// A hint for a syntax error whose cause is Python spelling: `x ** y` (the parser stops at
    /// the second `*`) and attributes or methods such as `x.T` and `x.sum()` (the lexer stops
    /// at the `.`). `bytes` is the source; `nil` when the error is something else.
    public static func syntax(_ d: Diagnostic, bytes: [UInt8]) -> String? {
        guard d.location.isKnown, let at = byteOffset(of: d.location, in: bytes) else { return nil }
        switch d.kind {
        case .expected(_, found: "'*'") where at > 0 && bytes[at - 1] == UInt8(ascii: "*"):
            return "powers are x ^ y in gradc (Python's x ** y)"
        case .unexpectedCharacter("."):
            var end = at + 1
            while end < bytes.count, Identifier.isContinuation(bytes[end]) { end += 1 }
            let word = String(decoding: bytes[(at + 1)..<end], as: UTF8.self)
            if word == "T" { return "transpose(x) is NumPy's x.T (transpose(x, perm=[…]) for another order)" }
            if let first = word.utf8.first, Identifier.isDigit(first) { return "write a digit before the point: 0.\(word)" }
            if word.isEmpty { return nil }
            if Op(rawValue: word) != nil { return "values have no methods: write \(word)(x, …) for x.\(word)(…)" }
            if word == "shape" || word == "dtype" { return "types are static: the declared type of a value says its \(word)" }
            return "values have no attributes or methods: call ops as functions, as in sum(x)"
        default:
            return nil
        }
    }

    /// The offset of the byte at `location` (line, and column counted in Unicode scalars).
    public static func byteOffset(of location: SourceLocation, in bytes: [UInt8]) -> Int? {
        var line = 1
        var column = 1
        for (i, b) in bytes.enumerated() {
            if b & 0xC0 != 0x80, line == location.line, column == location.column { return i }
            if b == 0x0A {
                if line == location.line { return nil }
                line += 1
                column = 1
            } else if b & 0xC0 != 0x80 {
                column += 1
            }
        }
        return nil
    }
}
