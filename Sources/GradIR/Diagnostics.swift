/// A position in a source file (1-based); `line == 0` means unknown.
public struct SourceLocation: Hashable, Sendable, CustomStringConvertible {
    // Stored in 32 bits (every node carries one; a source of 2³¹ lines is far beyond what the
    // parser accepts), read and written as `Int`.
    private var line32: Int32
    private var column32: Int32
    public var line: Int {
        get { Int(line32) }
        set { line32 = Int32(clamping: newValue) }
    }
    public var column: Int {
        get { Int(column32) }
        set { column32 = Int32(clamping: newValue) }
    }
    public init(line: Int, column: Int) {
        self.line32 = Int32(clamping: line)
        self.column32 = Int32(clamping: column)
    }
    public static let unknown = SourceLocation(line: 0, column: 0)
    public var isKnown: Bool { line > 0 }
    public var description: String { "\(line):\(column)" }
}

/// Everything gradc can reject, one message per case.
public enum DiagnosticKind: Hashable, Sendable {
    // Lexing and parsing
    case invalidUTF8
    case nulByte
    case unexpectedCharacter(String)
    case unterminatedComment
    case invalidNumber(String)
    case expected(String, found: String)
    case nestingTooDeep(limit: Int)
    case inliningBudgetExceeded(callee: String, nodes: Int, limit: Int)
    case unknownType(String)
    case unknownOp(String)
    case unknownFunction(String)
    case undefinedName(String)
    case duplicateName(String)
    case duplicateFunction(String)
    case emptyFile
    case noReturn(function: String)
    case unknownAttribute(op: String, name: String)
    case missingAttribute(op: String, name: String)
    case invalidAttribute(op: String, name: String, expected: String)
    case wrongArity(op: String, expected: String, got: Int)
    case wrongOutputCount(op: String, expected: Int, got: Int)
    case annotationMismatch(declared: TensorType, inferred: TensorType)
    // Types and shapes
    case invalidShape(String)
    case shapeMismatch(op: String, [TensorType])
    case dtypeMismatch(op: String, [TensorType])
    case unsupportedDType(op: String, TensorType, expected: String)
    case invalidOperand(op: String, String)
    // Differentiation
    case notScalar(op: String, TensorType)
    case integerWRT(op: String, TensorType)
    case notAnInput(op: String)
    // Evaluation and I/O
    case missingInput(String)
    case unknownInput(String, expected: [String])
    case inputTypeMismatch(name: String, expected: TensorType, got: TensorType)
    case io(String)
    case unexpandedDerivative(op: String)
    case kernelFailure(op: String, String)
    /// An index of an indexing op outside `−length ..< length`, found at run time.
    case indexOutOfRange(op: String, index: Int64, axis: Int, length: Int)
    case invalidNPY(String)
    case other(String)

    public var message: String {
        switch self {
        case .invalidUTF8: return "the file is not valid UTF-8"
        case .nulByte: return "unexpected NUL byte"
        case .unexpectedCharacter(let c): return "unexpected character '\(c)'"
        case .unterminatedComment: return "unterminated comment"
        case .invalidNumber(let s): return "invalid number '\(s)'"
        case .expected(let what, let found): return "expected \(what), found \(found)"
        case .nestingTooDeep(let limit): return "expression nested more than \(limit) levels deep"
        case .inliningBudgetExceeded(let callee, let nodes, let limit):
            return "inlining this call of '\(callee)' would give the file \(nodes) nodes, more than the inlining budget of \(limit) (ParseLimits.maxInlinedNodes): every call copies the callee, so functions that call each other several times grow exponentially"
        case .unknownType(let s): return "unknown type '\(s)': expected f32, f64, i64 or bool"
        case .unknownOp(let s): return "unknown op or function '\(s)'"
        case .unknownFunction(let s): return "no function named '\(s)'"
        case .undefinedName(let s): return "use of undefined name '\(s)'"
        case .duplicateName(let s): return "'\(s)' is already defined"
        case .duplicateFunction(let s): return "function '\(s)' is already defined"
        case .emptyFile: return "expected at least one 'func' definition"
        case .noReturn(let f): return "function '\(f)' has no 'return' statement"
        case .unknownAttribute(let op, let name): return "\(op) has no attribute '\(name)'"
        case .missingAttribute(let op, let name): return "\(op) needs the attribute '\(name)'"
        case .invalidAttribute(let op, let name, let expected): return "invalid attribute '\(name)' of \(op): expected \(expected)"
        case .wrongArity(let op, let expected, let got): return "\(op) takes \(expected), got \(got)"
        case .wrongOutputCount(let op, let expected, let got): return "\(op) gives \(expected) value\(expected == 1 ? "" : "s") but \(got) name\(got == 1 ? " is" : "s are") bound"
        case .annotationMismatch(let d, let i): return "declared type \(d) does not match the inferred type \(i)"
        case .invalidShape(let s): return "invalid shape: \(s)"
        case .shapeMismatch(let op, let ts): return "shape mismatch in \(op): \(ts.map(\.description).joined(separator: opSeparator(op)))"
        case .dtypeMismatch(let op, let ts): return "dtype mismatch in \(op): \(ts.map(\.description).joined(separator: opSeparator(op)))"
        case .unsupportedDType(let op, let t, let expected): return "\(op) does not accept \(t): expected \(expected)"
        case .invalidOperand(let op, let s): return "\(op): \(s)"
        case .notScalar(let op, let t): return "\(op) needs a scalar to differentiate, got \(t)"
        case .integerWRT(let op, let t): return "\(op) with respect to a value of type \(t): only f32 and f64 values can be differentiated"
        case .notAnInput(let op): return "\(op) needs a function input or a named value to differentiate with respect to"
        case .missingInput(let s): return "no value given for input '\(s)'"
        case .unknownInput(let s, let expected):
            return "unknown input '\(s)': " + (expected.isEmpty ? "the function takes no inputs" : "the inputs are " + expected.map { "'\($0)'" }.joined(separator: ", "))
        case .inputTypeMismatch(let name, let e, let g): return "input '\(name)' expects \(e), got \(g)"
        case .io(let s): return s
        case .unexpandedDerivative(let op): return "\(op): derivative requests must be expanded by the differentiation pass before evaluation"
        case .kernelFailure(let op, let s): return "internal error in the \(op) kernel: \(s)"
        case .indexOutOfRange(let op, let index, let axis, let length):
            let valid = length == 0 ? "no index is valid on an empty axis" : "expected -\(length) ≤ index < \(length)"
            return "\(op): index \(index) is out of range for axis \(axis) of length \(length) (\(valid))"
        case .invalidNPY(let s): return "invalid .npy data: \(s)"
        case .other(let s): return s
        }
    }
}

private func opSeparator(_ op: String) -> String {
    switch op {
    case "matmul": return " @ "
    case "add": return " + "
    case "sub": return " - "
    case "mul": return " * "
    case "div": return " / "
    case "pow": return " ^ "
    default: return ", "
    }
}

/// An error with a location: what every layer of gradc throws.
public struct Diagnostic: Error, Hashable, Sendable, CustomStringConvertible {
    public var kind: DiagnosticKind
    public var location: SourceLocation
    public var file: String?
    /// The text of the offending line, for the caret display.
    public var sourceLine: String?
    /// What the user may have meant (`did you mean 'select'?`), printed after the error.
    public var hint: String?

    public init(_ kind: DiagnosticKind, at location: SourceLocation = .unknown, file: String? = nil, sourceLine: String? = nil, hint: String? = nil) {
        self.kind = kind
        self.location = location
        self.file = file
        self.sourceLine = sourceLine
        self.hint = hint
    }

    public var message: String { kind.message }

    /// `file:line:col: error: message`, then the line and a caret under the column, then
    /// `hint: …` when there is one.
    public var description: String {
        var head = ""
        if let file { head += file + ":" }
        if location.isKnown { head += "\(location.line):\(location.column):" }
        var text = (head.isEmpty ? "" : head + " ") + "error: " + message
        if location.isKnown, let line = sourceLine {
            let shown = String(line.prefix(200))
            let caretColumn = min(max(location.column, 1), shown.count + 1)
            let pad = String(shown.prefix(caretColumn - 1).map { $0 == "\t" ? "\t" : " " })
            text += "\n" + shown + "\n" + pad + "^"
        }
        if let hint { text += "\nhint: " + hint }
        return text
    }

    /// Fills in `file` and `sourceLine` from the source text when they are missing.
    public func attaching(file: String?, source: String?) -> Diagnostic {
        var d = self
        if d.file == nil { d.file = file }
        if d.sourceLine == nil, location.isKnown, let source {
            var lineNo = 1
            for line in source.split(separator: "\n", omittingEmptySubsequences: false) {
                if lineNo == location.line {
                    d.sourceLine = String(line)
                    break
                }
                lineNo += 1
            }
        }
        return d
    }
}
