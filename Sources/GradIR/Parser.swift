/// The `.ir` parser: recursive descent straight into a `GraphBuilder`, so every node is type
/// checked as it is created and every error points at the token that caused it.
///
/// Grammar (low → high precedence):
/// ```
/// module     := (func | NEWLINE)*
/// func       := 'func' NAME '(' (param (',' param)*)? ')' ('->' (type | '(' type (',' type)* ')'))?
///               '{' stmt* return '}'
/// param      := NAME ':' type
/// type       := ('f32' | 'f64' | 'i64' | 'bool') ('[' (INT (',' INT)*)? ']')?
/// stmt       := target (',' target)* '=' expr                 (ends at NEWLINE or ';')
/// target     := (NAME | %NAME) (':' type)?
/// return     := 'return' item (',' item)*
/// item       := expr ('as' NAME)?
/// expr       := additive (('==' | '!=' | '<' | '<=' | '>' | '>=') additive)?   (non-associative)
/// additive   := multiplicative (('+' | '-') multiplicative)*
/// multiplicative := unary (('*' | '/' | '@') unary)*
/// unary      := '-' unary | power
/// power      := postfix ('^' unary)?                        (right-associative)
/// postfix    := primary ('[' index (',' index)* ']')*
/// primary    := NUMBER | 'inf' | 'nan' | NAME | %NAME | '(' expr ')' | NAME '(' args ')'
/// args       := (expr (',' expr)*)? (',' NAME '=' attr)*
/// ```

// MARK: Public entry points

/// Bounds on what parsing a file may build (like `VMLimits` for a `.gbc` file): a small file
/// must not make the parser use unbounded stack, memory or time.
public struct ParseLimits: Sendable {
    /// How deeply expressions may nest (the parser recurses; the limit must fit the stack of a
    /// debug build too).
    public var maxDepth = 256
    /// The most nodes a file's functions may have together once calls are inlined (4 Mi
    /// nodes, 256 MiB). A call copies the callee's nodes, so 40 two-line functions each
    /// calling the previous one twice would make 2⁴⁰; the budget is checked at each call, and
    /// the call that crosses it is the error's location.
    public var maxInlinedNodes = 1 << 22

    public init() {}
}

/// Parses `.ir` source text into a module.
public func parseModule(_ source: String, file: String? = nil, limits: ParseLimits = ParseLimits()) throws(Diagnostic) -> Module {
    try parseModule(bytes: Array(source.utf8), file: file, limits: limits)
}

/// Parses `.ir` source bytes (UTF-8) into a module; invalid UTF-8 and NUL bytes are located
/// errors. A UTF-8 byte order mark at the start is skipped (editors on Windows write one).
public func parseModule(bytes: [UInt8], file: String? = nil, limits: ParseLimits = ParseLimits()) throws(Diagnostic) -> Module {
    if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { return try parseModule(bytes: Array(bytes.dropFirst(3)), file: file, limits: limits) }
    return try onLargeStack(stackBytes: parserStackBytes) { () throws(Diagnostic) -> Module in
        try parseModuleOnThisStack(bytes: bytes, file: file, limits: limits)
    }
}

private func parseModuleOnThisStack(bytes: [UInt8], file: String?, limits: ParseLimits) throws(Diagnostic) -> Module {
    // The text is only needed to show the line of an error.
    func located(_ d: Diagnostic) -> Diagnostic {
        d.attaching(file: file, source: String(decoding: bytes, as: UTF8.self))
    }
    if let bad = firstInvalidUTF8Offset(bytes) {
        throw located(Diagnostic(.invalidUTF8, at: sourceLocation(ofByte: bad, in: bytes)))
    }
    let tokens = TokenStream(bytes)
    var parser = Parser(tokens, limits: limits)
    do throws(Diagnostic) {
        let module = try parser.parseModule()
        if let e = tokens.lexingError() { throw e }
        return module
    } catch {
        var d = tokens.lexingError() ?? error
        if !d.location.isKnown { d.location = SourceLocation(line: 1, column: 1) }
        if d.hint == nil { d.hint = Suggestions.syntax(d, bytes: bytes) }
        throw located(d)
    }
}

/// Callee names handled by the parser itself rather than by the op table.
let sugarNames: Set<String> = Set(["zeros", "ones", "fill", "fori", "while", "stack", "conv1d", "slogdet"]).union(matrixSugarNames)

/// The matrix helpers composed of other ops (`GraphBuilder+Matrix.swift`).
let matrixSugarNames: Set<String> = ["eye", "diagonal", "diag", "trace", "tril", "triu", "inv"]

// MARK: Expressions

/// A number as written: the nearest double, and the exact integer when its value is one
/// (`12`, `-7`, `1e3`, `2.50e1`; read from the digits, never through the double).
struct Number: Sendable {
    var double: Double
    /// Whether the value is an integer, however large.
    var isInteger = false
    /// The integer's magnitude, exactly, when it is below 2^64.
    var magnitude: UInt64? = nil
    var negative = false
    /// The literal's bytes in the source (for messages); `nil` for `inf` and `nan`.
    var span: Range<Int>? = nil

    init(double: Double) {
        self.double = double
    }

    init(integer: UInt64) {
        double = Double(integer)
        isInteger = true
        magnitude = integer
    }

    /// The exact value when it is an integer in i64's range −2^63 … 2^63 − 1.
    var int: Int? {
        guard let m = magnitude else { return nil }
        if negative { return m <= 1 << 63 ? Int(truncatingIfNeeded: 0 &- m) : nil }
        return m < 1 << 63 ? Int(m) : nil
    }

    var negated: Number {
        var n = self
        n.double = -double
        n.negative.toggle()
        return n
    }

    /// Whether the value is an integer, and its magnitude when below 2^64, from the bytes of a
    /// number token (`digits ('.' digits)? ([eE] [+-]? digits)?`, checked by the lexer).
    static func exactInteger(_ bytes: ArraySlice<UInt8>) -> (isInteger: Bool, magnitude: UInt64?) {
        var digits: [UInt8] = []  // significant digits of mantissa, leading zeros dropped
        var fractionDigits = 0
        var exponent = 0
        var exponentNegative = false
        var part = 0  // 0: integer part, 1: fraction, 2: exponent
        for b in bytes {
            switch b {
            case 0x2E: part = 1
            case 0x65, 0x45: part = 2
            case 0x2D: exponentNegative = true
            case 0x2B: break
            default:
                let d = b &- 0x30
                if part == 2 {
                    exponent = min(exponent * 10 + Int(d), 1_000_000)  // beyond, the double is 0 or inf
                } else {
                    if part == 1 { fractionDigits += 1 }
                    if !(digits.isEmpty && d == 0) { digits.append(d) }
                }
            }
        }
        if digits.isEmpty { return (true, 0) }
        let scale = (exponentNegative ? -exponent : exponent) - fractionDigits
        var kept = digits[...]
        var zeros = 0
        if scale < 0 {
            guard -scale <= digits.count, digits.suffix(-scale).allSatisfy({ $0 == 0 }) else { return (false, nil) }
            kept = digits.dropLast(-scale)
        } else {
            zeros = scale
        }
        if kept.count + zeros > 20 { return (true, nil) }  // at least 10^20 > 2^64
        var m: UInt64 = 0
        for d in kept + [UInt8](repeating: 0, count: zeros) {
            let (times10, o1) = m.multipliedReportingOverflow(by: 10)
            let (sum, o2) = times10.addingReportingOverflow(UInt64(d))
            if o1 || o2 { return (true, nil) }
            m = sum
        }
        return (true, m)
    }
}

/// What an expression evaluates to while parsing.
enum ExprKind {
    /// A node of the graph being built.
    case value(ValueID)
    /// A weakly typed number, materialized once its context is known.
    case literal(Number)
    /// A weakly typed tensor literal `[[1, 2], [3, 4]]`: its numbers in row-major order, its shape.
    case array([Number], [Int])
    /// Several values (from `grad` or a user function with several outputs): an index into
    /// `Parser.tuples`.
    case tuple(Int)
}

/// An expression while parsing. It holds no references (tuples are kept by the parser), so
/// the copies the recursive descent makes are cheap.
struct Expr {
    var kind: ExprKind
    var location: SourceLocation
    /// The identifier when the expression is a plain name.
    var name: Symbol? = nil
    /// An output name suggested by the expression: that of element `element` of a tuple
    /// (`dz_dx` for `grad(z, x, y)[0]`).
    var suggested: (tuple: Int, element: Int)? = nil
}

/// The values of a `grad` or of a call of a function with several outputs.
struct Tuple {
    var values: [ValueID]
    /// A suggested output name for each value.
    var names: [String?]
    /// The callee, for messages.
    var origin: String
}

/// A keyword-argument value before it is checked against the op's attribute kinds.
enum RawAttr {
    case number(Number)
    case numbers([Number])
    case bool(Bool)
    case dtype(DType)
}

struct KeywordArg {
    var key: Token
    var value: RawAttr
    var valueLocation: SourceLocation
}

// MARK: Parser

/// Output names made unique: a name already taken gets the first free suffix, `x`, `x_2`,
/// `x_3`, … . Each name remembers the suffix to try next, so n repeats of one name cost O(n)
/// probes, not O(n²) (`return x, x, …` with 20 000 repeats took a minute). Suffixes below
/// the remembered one were all taken, and names are never released, so the result is the
/// same as searching from `_2` every time.
struct UniqueNames {
    private var used: Set<String>
    private var nextSuffix: [String: Int] = [:]
    /// Candidate names tried so far (the work the tests bound).
    private(set) var probes = 0

    init(capacity: Int = 0) {
        used = Set(minimumCapacity: capacity)
    }

    mutating func unique(_ base: String) -> String {
        var name = base
        var suffix = nextSuffix[base] ?? 2
        probes += 1
        while !used.insert(name).inserted {
            name = "\(base)_\(suffix)"
            suffix += 1
            probes += 1
        }
        if name != base { nextSuffix[base] = suffix }
        return name
    }
}

/// The values bound to names in the function being parsed, by symbol.
struct Scope {
    /// The value of each symbol, -1 when unbound.
    private var values: [ValueID] = []
    /// The symbols bound so far, to unbind them for the next function.
    private var bound: [Symbol] = []

    subscript(name: Symbol) -> ValueID? {
        get {
            let i = Int(name)
            return i < values.count && values[i] >= 0 ? values[i] : nil
        }
        set {
            let i = Int(name)
            if i >= values.count { values += repeatElement(-1, count: i + 1 - values.count) }
            if values[i] < 0 { bound.append(name) }
            values[i] = newValue ?? -1
        }
    }

    /// The symbols bound now (for error hints).
    var boundSymbols: [Symbol] { bound.filter { self[$0] != nil } }

    mutating func removeAll() {
        for name in bound { values[Int(name)] = -1 }
        bound.removeAll(keepingCapacity: true)
    }
}

/// The functions parsed so far, found by name, with the parse limits. A class, so that the
/// parser stays small (see `TokenStream`: the nesting limit must fit a debug build's stack).
final class FunctionTable {
    let limits: ParseLimits
    private(set) var functions: [Function] = []
    /// The index in `functions` of each name (a file may define 10⁵ functions: a linear
    /// search per definition and per call made parsing quadratic).
    private var index: [String: Int] = [:]
    /// Nodes of all the functions in `functions`.
    private(set) var nodeCount = 0

    init(limits: ParseLimits) {
        self.limits = limits
    }

    func function(named name: String) -> Function? {
        index[name].map { functions[$0] }
    }

    func append(_ f: Function) {
        index[f.name] = functions.count
        functions.append(f)
        nodeCount += f.totalNodeCount
    }
}

struct Parser {
    let tokens: TokenStream
    /// The functions defined before the one being parsed.
    let table: FunctionTable
    /// The tuples of the expressions of the function being parsed (see `ExprKind.tuple`).
    var tuples: [Tuple] = []

    // Per-function state.
    var builder = GraphBuilder(name: "")
    var scope = Scope()
    var depth = 0
    /// The index in `builder.function.bodies` of each function used as a loop body so far.
    var bodyIndex: [String: Int] = [:]

    init(_ tokens: TokenStream, limits: ParseLimits) {
        self.tokens = tokens
        table = FunctionTable(limits: limits)
    }

    // MARK: Token helpers

    /// The text of a name.
    func name(_ symbol: Symbol) -> String { tokens.name(symbol) }

    /// How a token is named in "expected …, found …" messages.
    func quoted(_ t: Token) -> String {
        switch t.kind {
        case .newline: return "end of line"
        case .eof: return "end of file"
        default: return "'\(tokens.text(t))'"
        }
    }

    var current: Token { tokens.current }

    /// The token after `current`.
    var nextToken: Token { tokens.next }

    @discardableResult
    mutating func advance() -> Token {
        let t = current
        tokens.advance()
        return t
    }

    func error(_ kind: DiagnosticKind, at location: SourceLocation) -> Diagnostic {
        Diagnostic(kind, at: location)
    }

    func expected(_ what: String) -> Diagnostic {
        Diagnostic(.expected(what, found: quoted(current)), at: current.location)
    }

    @discardableResult
    mutating func expect(_ punct: StaticString, _ what: String? = nil) throws(Diagnostic) -> Token {
        guard current.isPunct(punct) else { throw expected(what ?? "'\(punct)'") }
        return advance()
    }

    mutating func skipSeparators() {
        while current.kind == .newline || current.isPunct(";") { advance() }
    }

    mutating func enter() throws(Diagnostic) {
        depth += 1
        if depth > table.limits.maxDepth { throw error(.nestingTooDeep(limit: table.limits.maxDepth), at: current.location) }
    }

    mutating func leave() { depth -= 1 }

    func isReserved(_ t: Token) -> Bool { t.kind == .identifier && Keyword(rawValue: t.symbol)?.isReserved == true }

    /// A name that may be bound: an identifier that is not reserved (or a `%`-name when allowed).
    mutating func bindableName(_ what: String, allowPercent: Bool) throws(Diagnostic) -> Token {
        let t = current
        let ok = (t.kind == .identifier && !isReserved(t)) || (allowPercent && t.kind == .percentName)
        guard ok else { throw expected(what) }
        return advance()
    }

    // MARK: Module and functions

    mutating func parseModule() throws(Diagnostic) -> Module {
        skipSeparators()
        if current.kind == .eof { throw error(.emptyFile, at: SourceLocation(line: 1, column: 1)) }
        while current.kind != .eof {
            guard current.isKeyword(.func) else { throw expected("'func'") }
            try parseFunction()
            skipSeparators()
        }
        return Module(functions: table.functions)
    }

    mutating func parseFunction() throws(Diagnostic) {
        table.append(try parseDefinition(isBody: false))
    }

    /// `func NAME(…) { … }`; a loop body of the canonical form (`body k = func …`) may share
    /// its name with a function of the file (it is a copy of one).
    mutating func parseDefinition(isBody: Bool) throws(Diagnostic) -> Function {
        let funcToken = advance()
        let nameToken = current
        guard nameToken.kind == .identifier else { throw expected("a function name") }
        let name = self.name(nameToken.symbol)
        if isReserved(nameToken) { throw expected("a function name") }
        if Op(rawValue: name) != nil || sugarNames.contains(name) {
            throw error(.expected("a function name that is not an op", found: "'\(name)'"), at: nameToken.location)
        }
        if !isBody, table.function(named: name) != nil {
            throw error(.duplicateFunction(name), at: nameToken.location)
        }
        advance()
        builder = GraphBuilder(name: name)
        builder.function.location = funcToken.location
        scope.removeAll()
        tuples.removeAll()
        bodyIndex.removeAll()
        if !isBody { depth = 0 }  // a body nests in its owner: its depth counts toward the limit

        try expect("(")
        if !current.isPunct(")") {
            while true {
                let p = try bindableName("a parameter name", allowPercent: false)
                try expect(":")
                let (type, _) = try parseType()
                if scope[p.symbol] != nil { throw error(.duplicateName(self.name(p.symbol)), at: p.location) }
                builder.location = p.location
                scope[p.symbol] = try builder.parameter(self.name(p.symbol), type, nameIsUnique: true)
                guard current.isPunct(",") else { break }
                advance()
            }
        }
        try expect(")", "',' or ')'")

        var declared: [(TensorType, SourceLocation)]? = nil
        if current.isPunct("->") {
            advance()
            var list: [(TensorType, SourceLocation)] = []
            if current.isPunct("(") {
                advance()
                while true {
                    list.append(try parseType())
                    guard current.isPunct(",") else { break }
                    advance()
                }
                try expect(")", "',' or ')'")
            } else {
                list.append(try parseType())
            }
            declared = list
        }
        try expect("{")

        while true {
            skipSeparators()
            if current.isPunct("}") { throw error(.noReturn(function: name), at: current.location) }
            if current.kind == .eof { throw expected("'}'") }
            if current.isKeyword(.return) {
                try parseReturn(declared: declared)
                skipSeparators()
                try expect("}", "'}' after the return statement")
                break
            }
            if current.kind == .identifier, self.name(current.symbol) == "body", nextToken.kind == .number {
                try parseBodyDefinition()
                continue
            }
            try parseAssignment()
            guard current.kind == .newline || current.isPunct(";") || current.isPunct("}") else {
                throw expected("end of statement")
            }
        }
        return builder.function
    }

    /// `body k = func …` of the canonical form: loop body k of the function being parsed.
    mutating func parseBodyDefinition() throws(Diagnostic) {
        advance()
        let k = try number(current)
        let expectedIndex = builder.function.bodies.count
        guard k.int == expectedIndex else {
            throw error(.expected("body \(expectedIndex) (bodies are numbered in order)", found: quoted(current)), at: current.location)
        }
        advance()
        try expect("=")
        guard current.isKeyword(.func) else { throw expected("'func'") }
        // The body is parsed as a function of its own; the enclosing function's state waits.
        let saved = (builder, scope, tuples, depth, bodyIndex)
        try enter()
        scope = Scope()
        let body = try parseDefinition(isBody: true)
        (builder, scope, tuples, depth, bodyIndex) = saved
        builder.function.bodies.append(body)
    }

    /// `f64`, `f32[3,4]`, … with the shape validated.
    mutating func parseType() throws(Diagnostic) -> (TensorType, SourceLocation) {
        let t = current
        guard t.kind == .identifier else { throw expected("a type") }
        guard let dtype = dtype(named: t) else { throw error(.unknownType(tokens.text(t)), at: t.location) }
        advance()
        var shape: [Int] = []
        if current.isPunct("[") {
            advance()
            if !current.isPunct("]") {
                while true {
                    shape.append(try parseSignedInt("a dimension"))
                    guard current.isPunct(",") else { break }
                    advance()
                }
            }
            try expect("]", "',' or ']'")
        }
        let type = TensorType(dtype, shape)
        guard checkedElementCount(shape) != nil else {
            throw error(.invalidShape("\(type) (dimensions must be ≥ 0, rank ≤ \(maxRank), at most \(maxElementCount) elements)"), at: t.location)
        }
        return (type, t.location)
    }

    /// An integer literal with an optional leading `-`.
    mutating func parseSignedInt(_ what: String) throws(Diagnostic) -> Int {
        var negative = false
        if current.isPunct("-") {
            advance()
            negative = true
        }
        guard current.kind == .number else { throw expected(what) }
        var n = try number(current)
        if negative { n = n.negated }
        guard let v = n.int else {
            let range = n.isInteger ? " \(Parser.int64Range)" : ""
            throw error(.expected("an integer\(range)", found: "'\(text(of: n))'"), at: current.location)
        }
        advance()
        return v
    }

    /// The element type a type name token names.
    func dtype(named t: Token) -> DType? {
        guard t.kind == .identifier else { return nil }
        switch Keyword(rawValue: t.symbol) {
        case .f32: return .f32
        case .f64: return .f64
        case .i64: return .i64
        case .bool: return .bool
        default: return nil
        }
    }

    /// The value of a number token (`invalidNumber` when its double would be infinite).
    func number(_ t: Token) throws(Diagnostic) -> Number {
        let bytes = tokens.bytes[t.start..<t.end]
        var n: Number
        if bytes.count <= 19, bytes.allSatisfy({ $0 &- 0x30 < 10 }) {
            // The common case, digits below 10^19: no text made. UInt64 → Double rounds to nearest.
            var m: UInt64 = 0
            for digit in bytes { m = m * 10 + UInt64(digit - 0x30) }
            n = Number(integer: m)
        } else {
            guard let d = Double(tokens.text(t)), d.isFinite else { throw error(.invalidNumber(tokens.text(t)), at: t.location) }
            n = Number(double: d)
            (n.isInteger, n.magnitude) = Number.exactInteger(bytes)
        }
        n.span = t.start..<t.end
        return n
    }

    /// A literal as written, for messages.
    func text(of n: Number) -> String {
        guard let span = n.span else { return formatNumber(n.double) }
        return (n.negative ? "-" : "") + String(decoding: tokens.bytes[span], as: UTF8.self)
    }

    /// The range of an integer, for messages.
    static let int64Range = "from -9223372036854775808 to 9223372036854775807"

    /// The exact i64 a literal stands for: a located error when its value is not an integer
    /// (`1.5`, `inf`) or lies outside i64's range.
    func int64(_ n: Number, at location: SourceLocation) throws(Diagnostic) -> Int {
        if let v = n.int { return v }
        let why = n.isInteger ? "does not fit in i64 (integers \(Parser.int64Range))" : "is not an integer, but an i64 value is needed here"
        throw error(.invalidOperand(op: "const", "\(text(of: n)) \(why)"), at: location)
    }

    // MARK: Statements

    /// A name being assigned, with its optional type annotation.
    typealias Target = (name: Token, type: TensorType?, typeLocation: SourceLocation)

    mutating func parseAssignment() throws(Diagnostic) {
        // The first target apart: most statements have only that one, and then no array is made.
        let first = try parseTarget("a statement (an assignment or 'return')")
        var others: [Target] = []
        while current.isPunct(",") {
            advance()
            others.append(try parseTarget("a name"))
        }
        let count = 1 + others.count
        let eq = try expect("=", count == 1 ? "'=' or ','" : "'='")
        let e = try parseExpr()
        switch e.kind {
        case .tuple(let t):
            let tuple = tuples[t]
            if tuple.values.count != count {
                throw error(.wrongOutputCount(op: tuple.origin, expected: tuple.values.count, got: count), at: eq.location)
            }
            for (target, id) in zip([first] + others, tuple.values) { try bind(target, to: id) }
        case .value(let id):
            if count != 1 {
                throw error(.wrongOutputCount(op: e.name.map(name) ?? builder.function.nodes[id].op.name, expected: 1, got: count), at: eq.location)
            }
            try bind(first, to: id)
        case .literal(let n):
            if count != 1 {
                throw error(.wrongOutputCount(op: "a number", expected: 1, got: count), at: eq.location)
            }
            try bind(first, to: try materialize(n, as: first.type ?? TensorType(.f64), at: e.location))
        case .array:
            if count != 1 {
                throw error(.wrongOutputCount(op: "a tensor literal", expected: 1, got: count), at: eq.location)
            }
            try bind(first, to: try value(e, dtype: first.type?.dtype ?? .f64))
        }
    }

    /// `name` or `name: type`.
    mutating func parseTarget(_ what: String) throws(Diagnostic) -> Target {
        let name = try bindableName(what, allowPercent: true)
        guard current.isPunct(":") else { return (name, nil, name.location) }
        advance()
        let (type, location) = try parseType()
        return (name, type, location)
    }

    /// Binds a name to a value, after checking its type annotation.
    mutating func bind(_ target: Target, to id: ValueID) throws(Diagnostic) {
        if let declared = target.type, declared != builder.type(of: id) {
            throw error(.annotationMismatch(declared: declared, inferred: builder.type(of: id)), at: target.typeLocation)
        }
        scope[target.name.symbol] = id
    }

    mutating func parseReturn(declared: [(TensorType, SourceLocation)]?) throws(Diagnostic) {
        let returnToken = advance()
        var items: [(ValueID, String?)] = []
        while true {
            let e = try parseExpr()
            var asName: Token? = nil
            if current.isKeyword(.as) {
                advance()
                asName = try bindableName("an output name", allowPercent: false)
            }
            switch e.kind {
            case .tuple(let t):
                let tuple = tuples[t]
                if let asName, tuple.values.count != 1 {
                    throw error(.expected("a single value before 'as'", found: "the \(tuple.values.count) results of \(tuple.origin)"), at: asName.location)
                }
                for (k, v) in tuple.values.enumerated() {
                    items.append((v, asName.map { name($0.symbol) } ?? (k < tuple.names.count ? tuple.names[k] : nil)))
                }
            case .value(let id):
                let suggested = e.suggested.flatMap { tuples[$0.tuple].names[$0.element] }
                items.append((id, asName.map { name($0.symbol) } ?? e.name.map(name) ?? suggested))
            case .literal(let n):
                items.append((try materialize(n, as: TensorType(.f64), at: e.location), asName.map { name($0.symbol) }))
            case .array:
                items.append((try value(e), asName.map { name($0.symbol) }))
            }
            guard current.isPunct(",") else { break }
            advance()
        }
        var names = UniqueNames(capacity: items.count)
        var outputs: [Output] = []
        outputs.reserveCapacity(items.count)
        for (k, item) in items.enumerated() {
            outputs.append(Output(name: names.unique(item.1 ?? "out\(k)"), value: item.0))
        }
        if let declared {
            if declared.count != outputs.count {
                let s = declared.count == 1 ? "" : "s"
                throw error(.expected("\(declared.count) result\(s) as declared after '->'", found: "\(outputs.count)"), at: returnToken.location)
            }
            for (d, o) in zip(declared, outputs) where d.0 != builder.type(of: o.value) {
                throw error(.annotationMismatch(declared: d.0, inferred: builder.type(of: o.value)), at: d.1)
            }
        }
        builder.function.outputs = outputs
    }

    // MARK: Values

    /// A scalar (or, with a shaped type, splat) constant for a weakly typed literal.
    /// A constant of `type` holding literal `n`: exactly for i64 (an integer in range, else an
    /// error at `literal`), 0 or 1 for bool.
    mutating func materialize(_ n: Number, as type: TensorType, at location: SourceLocation,
                              literal: SourceLocation? = nil) throws(Diagnostic) -> ValueID {
        switch type.dtype {
        case .i64:
            let v = try int64(n, at: literal ?? location)
            var attrs = Attributes([.dtype: .dtype(.i64), .value: .int64Value(v)])
            if !type.shape.isEmpty { attrs[.shape] = .ints(type.shape) }
            return try add(.const, [], attrs, at: location)
        case .bool:
            guard n.double == 0 || n.double == 1 else {
                throw error(.invalidOperand(op: "const", "\(text(of: n)) is neither 0 nor 1, but a bool value is needed here"), at: literal ?? location)
            }
        case .f32, .f64:
            break
        }
        builder.location = location
        return try builder.constant(n.double, type)
    }

    /// A tensor literal as a `const` of `dtype`: i64 elements must be integers (of magnitude
    /// at most 2⁵³, exactly representable in the attribute), bool elements 0 or 1.
    mutating func materializeArray(_ numbers: [Number], shape: [Int], dtype: DType, at location: SourceLocation) throws(Diagnostic) -> ValueID {
        for n in numbers {
            switch dtype {
            case .i64:
                guard n.isInteger, let v = n.int, v.magnitude <= 1 << 53 else {
                    throw error(.invalidOperand(op: "const", "\(text(of: n)) is not an integer of magnitude ≤ 2⁵³, but an i64 tensor literal is needed here"), at: location)
                }
            case .bool:
                guard n.double == 0 || n.double == 1 else {
                    throw error(.invalidOperand(op: "const", "\(text(of: n)) is neither 0 nor 1, but a bool tensor literal is needed here"), at: location)
                }
            case .f32, .f64: break
            }
        }
        var attrs = Attributes([.dtype: .dtype(dtype), .values: .floats(numbers.map(\.double))])
        attrs[.shape] = .ints(shape)
        return try add(.const, [], attrs, at: location)
    }

    /// `[…]` in an expression: a tensor literal, nested lists of numbers of equal lengths.
    mutating func parseArrayLiteral() throws(Diagnostic) -> (numbers: [Number], shape: [Int]) {
        try enter()
        defer { leave() }
        let open = advance()
        var numbers: [Number] = []
        var rowShape: [Int]? = nil
        var count = 0
        while !current.isPunct("]") {
            if current.isPunct("[") {
                let at = current.location
                let (row, shape) = try parseArrayLiteral()
                if let rowShape, rowShape != shape {
                    throw error(.expected("a row of shape \(rowShape) like the first (a tensor literal is rectangular)", found: "shape \(shape)"), at: at)
                }
                guard rowShape != nil || numbers.isEmpty else { throw error(.expected("a number like the other elements", found: "a row"), at: at) }
                rowShape = shape
                numbers += row
            } else {
                guard rowShape == nil else { throw expected("a row '[…]' like the other elements") }
                var negative = false
                if current.isPunct("-") {
                    advance()
                    negative = true
                }
                var n: Number
                if current.kind == .number {
                    n = try number(current)
                } else if current.isKeyword(.inf) || current.isKeyword(.nan) {
                    n = Number(double: current.isKeyword(.inf) ? .infinity : .nan)
                } else {
                    throw expected("a number or a row '[…]' of the tensor literal")
                }
                if negative { n = n.negated }
                advance()
                numbers.append(n)
            }
            count += 1
            guard current.isPunct(",") else { break }
            advance()
        }
        guard current.isPunct("]") else { throw expected("',' or ']' closing the tensor literal opened at \(open.location.line):\(open.location.column)") }
        advance()
        return (numbers, [count] + (rowShape ?? []))
    }

    /// The single value of an expression; literals become constants of `dtype`.
    mutating func value(_ e: Expr, dtype: DType = .f64) throws(Diagnostic) -> ValueID {
        switch e.kind {
        case .value(let id):
            return id
        case .literal(let n):
            return try materialize(n, as: TensorType(dtype), at: e.location)
        case .array(let numbers, let shape):
            return try materializeArray(numbers, shape: shape, dtype: dtype, at: e.location)
        case .tuple(let t):
            let tuple = tuples[t]
            if tuple.values.count == 1 { return tuple.values[0] }
            throw error(.expected("a single value", found: "the \(tuple.values.count) results of \(tuple.origin) (assign them to several names, or pick one with [k])"), at: e.location)
        }
    }

    /// The dtype an expression has once it is a value (`nil` for a literal).
    func dtype(of e: Expr) -> DType? {
        switch e.kind {
        case .value(let id): return builder.type(of: id).dtype
        case .literal, .array: return nil
        case .tuple(let t): return tuples[t].values.first.map { builder.type(of: $0).dtype }
        }
    }

    /// Values of a binary operation's operands; a literal takes the other operand's dtype.
    mutating func operands(_ a: Expr, _ b: Expr) throws(Diagnostic) -> (ValueID, ValueID) {
        let context = dtype(of: a) ?? dtype(of: b) ?? .f64
        let x = try value(a, dtype: dtype(of: a) ?? context)
        let y = try value(b, dtype: dtype(of: b) ?? context)
        return (x, y)
    }

    mutating func add(_ op: Op, _ inputs: [ValueID], _ attrs: Attributes = Attributes(), at location: SourceLocation) throws(Diagnostic) -> ValueID {
        builder.location = location
        return try builder.add(op, inputs, attrs)
    }

    // MARK: Expressions

    /// The comparison op a token spells, if any.
    static func comparison(_ t: Token) -> Op? {
        if t.isPunct("==") { return .eq }
        if t.isPunct("!=") { return .ne }
        if t.isPunct("<") { return .lt }
        if t.isPunct("<=") { return .le }
        if t.isPunct(">") { return .gt }
        if t.isPunct(">=") { return .ge }
        return nil
    }

    mutating func parseExpr() throws(Diagnostic) -> Expr {
        try enter()
        defer { leave() }
        let lhs = try parseAdditive()
        guard let op = Parser.comparison(current) else { return lhs }
        let opToken = advance()
        let rhs = try parseAdditive()
        if Parser.comparison(current) != nil {
            throw expected("the end of the comparison (comparisons do not chain)")
        }
        return try binary(op, lhs, rhs, opToken)
    }

    // parseAdditive, parseMultiplicative and parsePostfix are inlined into their only caller:
    // fewer call levels for every operand.
    @inline(__always) mutating func parseAdditive() throws(Diagnostic) -> Expr {
        var lhs = try parseMultiplicative()
        while current.isPunct("+") || current.isPunct("-") {
            let opToken = advance()
            let rhs = try parseMultiplicative()
            lhs = try binary(opToken.isPunct("+") ? .add : .sub, lhs, rhs, opToken)
        }
        return lhs
    }

    @inline(__always) mutating func parseMultiplicative() throws(Diagnostic) -> Expr {
        var lhs = try parseUnary()
        while current.isPunct("*") || current.isPunct("/") || current.isPunct("@") {
            let opToken = advance()
            let rhs = try parseUnary()
            let op: Op = opToken.isPunct("*") ? .mul : opToken.isPunct("/") ? .div : .matmul
            lhs = try binary(op, lhs, rhs, opToken)
        }
        return lhs
    }

    mutating func parseUnary() throws(Diagnostic) -> Expr {
        guard current.isPunct("-") else { return try parsePower() }
        let minus = advance()
        try enter()
        defer { leave() }
        let operand = try parseUnary()
        if case .literal(let n) = operand.kind {
            return Expr(kind: .literal(n.negated), location: minus.location)
        }
        let x = try value(operand)
        return Expr(kind: .value(try add(.neg, [x], at: minus.location)), location: minus.location)
    }

    mutating func parsePower() throws(Diagnostic) -> Expr {
        let base = try parsePostfix()
        guard current.isPunct("^") else { return base }
        let caret = advance()
        try enter()
        defer { leave() }
        let exponent = try parseUnary()
        // `x^2` with a literal 2 is `square(x)`: exact (x·x is correctly rounded, libm's pow
        // need not be) and cheap, in the forward pass and in every derivative of it.
        if case .literal(let n) = exponent.kind, n.double == 2 {
            if case .literal = base.kind {} else {
                let x = try value(base)
                return Expr(kind: .value(try add(.square, [x], at: caret.location)), location: base.location)
            }
        }
        return try binary(.pow, base, exponent, caret)
    }

    mutating func binary(_ op: Op, _ a: Expr, _ b: Expr, _ token: Token) throws(Diagnostic) -> Expr {
        let (x, y) = try operands(a, b)
        let id = op == .matmul ? try matmul(x, y, at: token.location) : try add(op, [x, y], at: token.location)
        return Expr(kind: .value(id), location: a.location)
    }

    /// `a @ b` with NumPy semantics for 1-D operands (`GraphBuilder.matmul`).
    mutating func matmul(_ a: ValueID, _ b: ValueID, at location: SourceLocation) throws(Diagnostic) -> ValueID {
        builder.location = location
        return try builder.matmul(a, b)
    }

    @inline(__always) mutating func parsePostfix() throws(Diagnostic) -> Expr {
        var e = try parsePrimary()
        while current.isPunct("[") {
            e = try parseIndex(e)
        }
        return e
    }

    mutating func parsePrimary() throws(Diagnostic) -> Expr {
        let t = current
        switch t.kind {
        case .number:
            advance()
            return Expr(kind: .literal(try number(t)), location: t.location)
        case .identifier:
            if t.isKeyword(.inf) || t.isKeyword(.nan) {
                advance()
                return Expr(kind: .literal(Number(double: t.isKeyword(.inf) ? .infinity : .nan)), location: t.location)
            }
            if nextToken.isPunct("(") {
                advance()
                return try parseCall(t)
            }
            if isReserved(t) { throw expected("an expression") }
            guard let id = scope[t.symbol] else { throw undefined(t) }
            advance()
            return Expr(kind: .value(id), location: t.location, name: t.symbol)
        case .percentName:
            guard let id = scope[t.symbol] else { throw undefined(t) }
            advance()
            return Expr(kind: .value(id), location: t.location)
        case .punct where t.isPunct("["):
            let (numbers, shape) = try parseArrayLiteral()
            guard checkedElementCount(shape) != nil, shape.count <= maxRank else {
                throw error(.invalidShape("tensor literal of shape \(shape) (rank ≤ \(maxRank))"), at: t.location)
            }
            return Expr(kind: .array(numbers, shape), location: t.location)
        case .punct where t.isPunct("("):
            advance()
            var e = try parseExpr()
            try expect(")", "')'")
            e.location = t.location
            e.name = nil
            return e
        default:
            throw expected("an expression")
        }
    }

    // MARK: Indexing and slicing

    enum IndexItem {
        case index(Int, SourceLocation)
        case range(Int?, Int?, Int?, SourceLocation)
        /// An i64 tensor (or scalar) of indices: `take` along this axis.
        case tensor(ValueID, SourceLocation)
    }

    mutating func parseIndex(_ e: Expr) throws(Diagnostic) -> Expr {
        let bracket = advance()
        if case .tuple(let t) = e.kind {
            let tuple = tuples[t]
            let at = current.location
            let i = try parseSignedInt("an integer index")
            try expect("]", "']'")
            let k = i < 0 ? i + tuple.values.count : i
            guard k >= 0, k < tuple.values.count else {
                throw error(.expected("an index in 0..<\(tuple.values.count) for the results of \(tuple.origin)", found: "\(i)"), at: at)
            }
            return Expr(kind: .value(tuple.values[k]), location: e.location, suggested: k < tuple.names.count ? (t, k) : nil)
        }
        var items: [IndexItem] = []
        while true {
            let at = current.location
            var first: Int? = nil
            if !current.isPunct(":") {
                // A number literal is a static index (or a slice's start); any other
                // expression, of type i64, is a tensor of indices: `take` along this axis.
                let indexExpr = try parseExpr()
                if case .literal(let n) = indexExpr.kind {
                    guard n.isInteger else { throw error(.expected("an integer index", found: "'\(text(of: n))'"), at: at) }
                    guard let v = n.int else {
                        throw error(.expected("an integer \(Parser.int64Range)", found: "'\(text(of: n))'"), at: at)
                    }
                    first = v
                } else {
                    let id = try value(indexExpr, dtype: .i64)
                    guard builder.type(of: id).dtype == .i64 else {
                        throw error(.expected("an integer index, a slice like 1:3 or an i64 tensor of indices", found: "\(builder.type(of: id))"), at: at)
                    }
                    guard !current.isPunct(":") else { throw expected("']' or ',' after a tensor of indices (slice bounds are integer literals)") }
                    items.append(.tensor(id, at))
                    guard current.isPunct(",") else { break }
                    advance()
                    continue
                }
            }
            if current.isPunct(":") {
                advance()
                var stop: Int? = nil
                var step: Int? = nil
                if current.isPunct("-") || current.kind == .number { stop = try parseSignedInt("an integer") }
                if current.isPunct(":") {
                    advance()
                    if current.isPunct("-") || current.kind == .number { step = try parseSignedInt("an integer") }
                }
                items.append(.range(first, stop, step, at))
            } else {
                guard let first else { throw expected("an integer index or a slice like 1:3") }
                items.append(.index(first, at))
            }
            guard current.isPunct(",") else { break }
            advance()
        }
        try expect("]", "',' or ']'")

        let x = try value(e)
        let t = builder.type(of: x)
        if items.count > t.rank {
            throw error(.expected("at most \(t.rank) ind\(t.rank == 1 ? "ex" : "ices") for a value of type \(t)", found: "\(items.count)"), at: bracket.location)
        }
        var starts = [Int](repeating: 0, count: t.rank)
        var stops = t.shape
        var steps = [Int](repeating: 1, count: t.rank)
        var dropped: [Int] = []
        var gather: (index: ValueID, axis: Int, at: SourceLocation)?
        for (axis, item) in items.enumerated() {
            let dim = t.shape[axis]
            switch item {
            case .tensor(let id, let at):
                guard gather == nil else {
                    throw error(.expected("at most one tensor of indices (apply take twice for more)", found: "a second one"), at: at)
                }
                gather = (id, axis, at)
            case .index(let i, let at):
                let j = i < 0 ? i + dim : i
                guard j >= 0, j < dim else {
                    throw error(.expected("an index in -\(dim)..<\(dim) for axis \(axis) of \(t)", found: "\(i)"), at: at)
                }
                starts[axis] = j
                stops[axis] = j + 1
                dropped.append(axis)
            case .range(let lo, let hi, let step, let at):
                let s = step ?? 1
                guard s >= 1 else { throw error(.expected("a positive slice step", found: "\(s)"), at: at) }
                let (a, b) = normalizeSliceBounds(start: lo, stop: hi, dim: dim)
                starts[axis] = a
                stops[axis] = b
                steps[axis] = min(s, max(dim, 1))
            }
        }
        var result = x
        if starts != Array(repeating: 0, count: t.rank) || stops != t.shape || steps != Array(repeating: 1, count: t.rank) || gather == nil {
            let attrs = Attributes([.start: .ints(starts), .stop: .ints(stops), .step: .ints(steps)])
            result = try add(.slice, [x], attrs, at: bracket.location)
        }
        if !dropped.isEmpty {
            let shape = builder.type(of: result).shape.enumerated().filter { !dropped.contains($0.offset) }.map(\.element)
            result = try add(.reshape, [result], Attributes([.shape: .ints(shape)]), at: bracket.location)
        }
        if let g = gather {
            let axis = g.axis - dropped.filter { $0 < g.axis }.count
            result = try add(.take, [result, g.index], Attributes([.axis: .int(axis)]), at: g.at)
        }
        return Expr(kind: .value(result), location: e.location)
    }

    // MARK: Calls

    mutating func parseCall(_ callee: Token) throws(Diagnostic) -> Expr {
        try expect("(")
        let calleeName = self.name(callee.symbol)
        // The surface loop forms name their body first: a function, not a value. (`scan(%1, …,
        // body=0, …)` is the canonical form, an op call.)
        if calleeName == "fori" || (calleeName == "scan" && current.kind == .identifier && scope[current.symbol] == nil && !nextToken.isPunct("=")) {
            return try loopCall(callee, indexed: calleeName == "fori")
        }
        if calleeName == "while" { return try whileCall(callee) }
        var args: [Expr] = []
        var keywords: [KeywordArg] = []
        while !current.isPunct(")") {
            if current.kind == .identifier, nextToken.isPunct("=") {
                let key = advance()
                advance()
                if keywords.contains(where: { $0.key.symbol == key.symbol }) {
                    throw error(.duplicateName(name(key.symbol)), at: key.location)
                }
                let at = current.location
                keywords.append(KeywordArg(key: key, value: try parseAttrValue(), valueLocation: at))
            } else {
                if !keywords.isEmpty { throw expected("a keyword argument (operands come before attributes)") }
                args.append(try parseExpr())
            }
            guard current.isPunct(",") else { break }
            advance()
        }
        try expect(")", "',' or ')'")

        let name = self.name(callee.symbol)
        if callee.isKeyword(.grad) { return try gradCall(callee, args, keywords) }
        if let f = table.function(named: name) { return try inline(f, callee, args, keywords) }
        if callee.isKeyword(.zeros) || callee.isKeyword(.ones) || callee.isKeyword(.fill) { return try constantSugar(callee, args, keywords) }
        if name == "stack" { return try stackCall(callee, args, keywords) }
        if name == "conv1d" { return try conv1dCall(callee, args, keywords) }
        if name == "slogdet" { return try slogdetCall(callee, args, keywords) }
        if matrixSugarNames.contains(name) { return try matrixCall(callee, args, keywords) }
        if let op = Op(rawValue: name), op != .input { return try opCall(op, callee, args, keywords) }
        throw unknownCallee(name, at: callee.location)
    }

    // The errors for unknown names are made out of line: the recursive parse functions that
    // throw them keep small stack frames (`ParseLimits.maxDepth` must fit a debug build's stack).

    /// The error for a call of a name that is no op and no function defined above, with a hint.
    @inline(never)
    func unknownCallee(_ name: String, at location: SourceLocation) -> Diagnostic {
        if tokens.declaresFunction(named: name) {
            return Diagnostic(.unknownFunction(name), at: location,
                              hint: "'\(name)' is defined further down: a function can call only the functions defined above it")
        }
        return Diagnostic(.unknownOp(name), at: location, hint: Suggestions.unknownCallee(name, functions: table.functions.map(\.name)))
    }

    /// The error for a name with no value, with a hint at what was meant.
    @inline(never)
    func undefined(_ t: Token) -> Diagnostic {
        let hint = Suggestions.undefinedName(name(t.symbol), inScope: scope.boundSymbols.map(name), functions: table.functions.map(\.name))
        return Diagnostic(.undefinedName(name(t.symbol)), at: t.location, hint: hint)
    }

    /// `NUMBER`, `-NUMBER`, `inf`, `nan`, `true`, `false`, a dtype, or `[numbers]`.
    mutating func parseAttrValue() throws(Diagnostic) -> RawAttr {
        if current.isPunct("[") {
            advance()
            var list: [Number] = []
            while !current.isPunct("]") {
                list.append(try parseAttrNumber())
                guard current.isPunct(",") else { break }
                advance()
            }
            try expect("]", "',' or ']'")
            return .numbers(list)
        }
        if current.kind == .identifier {
            if current.isKeyword(.true) || current.isKeyword(.false) {
                return .bool(advance().isKeyword(.true))
            }
            if current.isKeyword(.inf) || current.isKeyword(.nan) {
                return .number(try parseAttrNumber())
            }
            if let d = dtype(named: current) {
                advance()
                return .dtype(d)
            }
        }
        if current.isPunct("-") || current.kind == .number { return .number(try parseAttrNumber()) }
        throw expected("an attribute value (a number, true, false, a dtype or a [list])")
    }

    mutating func parseAttrNumber() throws(Diagnostic) -> Number {
        var negative = false
        if current.isPunct("-") {
            advance()
            negative = true
        }
        let t = current
        let n: Number
        if t.isKeyword(.inf) {
            n = Number(double: .infinity)
        } else if t.isKeyword(.nan) {
            n = Number(double: .nan)
        } else if t.kind == .number {
            n = try number(t)
        } else {
            throw expected("a number")
        }
        advance()
        return negative ? n.negated : n
    }

    /// What an attribute of `kind` expects, for the message refusing `raw` (naming i64's
    /// range when `raw` holds an integer beyond it).
    static func describe(_ kind: AttrKind, refusing raw: RawAttr) -> String {
        let tooLarge: Bool
        switch raw {
        case .number(let n): tooLarge = n.isInteger && n.int == nil
        case .numbers(let ns): tooLarge = ns.contains { $0.isInteger && $0.int == nil }
        case .bool, .dtype: tooLarge = false
        }
        if tooLarge, kind == .int { return "an integer \(int64Range)" }
        if tooLarge, kind == .ints { return "a list of integers \(int64Range)" }
        return describe(kind)
    }

    static func describe(_ kind: AttrKind) -> String {
        switch kind {
        case .int: return "an integer"
        case .ints: return "a list of integers like [0,1]"
        case .bool: return "true or false"
        case .float: return "a number"
        case .floats: return "a list of numbers like [1,2.5]"
        case .dtype: return "f32, f64, i64 or bool"
        }
    }

    static func coerce(_ raw: RawAttr, to kind: AttrKind) -> AttrValue? {
        switch (kind, raw) {
        case (.int, .number(let n)): return n.int.map { .int($0) }
        case (.ints, .numbers(let ns)):
            var out: [Int] = []
            for n in ns {
                guard let i = n.int else { return nil }
                out.append(i)
            }
            return .ints(out)
        case (.bool, .bool(let b)): return .bool(b)
        case (.float, .number(let n)): return .float(n.double)
        case (.floats, .numbers(let ns)): return .floats(ns.map(\.double))
        case (.dtype, .dtype(let d)): return .dtype(d)
        default: return nil
        }
    }

    /// `grad(y, x1, x2, …)`: one `grad` node per `xi`, as a tuple.
    mutating func gradCall(_ callee: Token, _ args: [Expr], _ keywords: [KeywordArg]) throws(Diagnostic) -> Expr {
        if let k = keywords.first { throw error(.unknownAttribute(op: "grad", name: name(k.key.symbol)), at: k.key.location) }
        guard args.count >= 2 else {
            throw error(.wrongArity(op: "grad", expected: "at least 2 operands", got: args.count), at: callee.location)
        }
        let y = try value(args[0])
        let prefix = args[0].name.map { "d\(name($0))_d" }  // dz_dx
        var ids: [ValueID] = []
        var names: [String?] = []
        for x in args.dropFirst() {
            let xid = try value(x)
            ids.append(try add(.grad, [y, xid], at: callee.location))
            if let prefix, let xn = x.name { names.append(prefix + name(xn)) } else { names.append(nil) }
        }
        tuples.append(Tuple(values: ids, names: names, origin: "grad"))
        return Expr(kind: .tuple(tuples.count - 1), location: callee.location)
    }

    /// A call of an earlier `func`: its nodes are copied with the parameters replaced.
    mutating func inline(_ f: Function, _ callee: Token, _ args: [Expr], _ keywords: [KeywordArg]) throws(Diagnostic) -> Expr {
        if let k = keywords.first { throw error(.unknownAttribute(op: f.name, name: name(k.key.symbol)), at: k.key.location) }
        guard args.count == f.parameters.count else {
            let n = f.parameters.count
            throw error(.wrongArity(op: f.name, expected: "\(n) operand\(n == 1 ? "" : "s")", got: args.count), at: callee.location)
        }
        var argIDs: [ValueID] = []
        for (p, a) in zip(f.parameters, args) {
            let expectedType = f.type(of: p.value)
            let id = try value(a, dtype: expectedType.dtype)
            guard builder.type(of: id) == expectedType else {
                throw error(.inputTypeMismatch(name: p.name, expected: expectedType, got: builder.type(of: id)), at: a.location)
            }
            argIDs.append(id)
        }
        let nodes = table.nodeCount + builder.function.totalNodeCount + f.totalNodeCount - f.parameters.count
        let limit = table.limits.maxInlinedNodes
        guard nodes <= limit else {
            throw error(.inliningBudgetExceeded(callee: f.name, nodes: nodes, limit: limit), at: callee.location)
        }
        // The callee's loop bodies join the caller's, renumbered — once per callee, however
        // often it is called (the key has a space, so no function name collides with it).
        var bodyOffset = 0
        if !f.bodies.isEmpty {
            if let known = bodyIndex["inlined " + f.name] {
                bodyOffset = known
            } else {
                bodyOffset = builder.function.bodies.count
                builder.function.bodies += f.bodies
                bodyIndex["inlined " + f.name] = bodyOffset
            }
        }
        guard let outs = builder.function.appendCopy(of: f, arguments: argIDs, bodyOffset: bodyOffset) else {
            throw error(.other("cannot inline '\(f.name)': it uses a value that is not defined"), at: callee.location)
        }
        if outs.count == 1 { return Expr(kind: .value(outs[0]), location: callee.location) }
        tuples.append(Tuple(values: outs, names: outs.map { _ in nil }, origin: f.name))
        return Expr(kind: .tuple(tuples.count - 1), location: callee.location)
    }

    /// `scan(body, carry=…, over=…, with=…, reverse=…)` and `fori(body, n, carry=…, with=…)`
    /// (docs/language.md, Loops): a `scan` node running a copy of `body` and one `result` per
    /// value of the body, as a tuple. `(` is consumed.
    mutating func loopCall(_ callee: Token, indexed: Bool) throws(Diagnostic) -> Expr {
        let form = indexed ? "fori" : "scan"
        let bodyToken = current
        guard bodyToken.kind == .identifier, let body = table.function(named: name(bodyToken.symbol)) else {
            if bodyToken.kind == .identifier, tokens.declaresFunction(named: name(bodyToken.symbol)) {
                throw error(.unknownFunction(name(bodyToken.symbol)), at: bodyToken.location)
            }
            throw expected("the name of a func defined above, the loop body of \(form)")
        }
        advance()
        var length: Int? = nil
        if indexed {
            try expect(",", "',' and the trip count of fori")
            let t = current
            guard t.kind == .number, let n = try number(t).int, try number(t).isInteger else {
                throw expected("the trip count of fori, an integer literal")
            }
            guard n >= 0, n <= maxElementCount else {
                throw error(.invalidAttribute(op: "fori", name: "n", expected: "a trip count in 0...\(maxElementCount), got \(n)"), at: t.location)
            }
            advance()
            length = n
        }
        let (groups, flags) = try loopKeywords(form, groups: indexed ? ["carry", "with"] : ["carry", "over", "with"],
                                               flags: indexed ? ["checkpoint"] : ["reverse", "checkpoint"])
        var reverse = false
        if let (v, key) = flags["reverse"] {
            guard case .bool(let b) = v else { throw error(.invalidAttribute(op: form, name: "reverse", expected: "true or false"), at: key.location) }
            reverse = b
        }
        let carries = groups["carry"]?.0 ?? []
        let over = groups["over"]?.0 ?? []
        let invariants = groups["with"]?.0 ?? []
        // Operands: a literal takes the dtype of the body parameter it is passed to.
        let offset = indexed ? 1 : 0
        var ids: [ValueID] = []
        for (k, e) in (carries + over + invariants).enumerated() {
            let p = offset + k
            let dtype = p < body.parameters.count ? body.type(of: body.parameters[p].value).dtype : .f64
            ids.append(try value(e, dtype: dtype))
        }
        if length == nil {
            guard let first = over.first else {
                throw error(.expected("over=(sequences) to iterate over (or fori(body, n, …) for a counted loop)", found: "none"), at: callee.location)
            }
            let t = builder.type(of: ids[carries.count])
            guard t.rank >= 1 else {
                throw error(.invalidOperand(op: "scan", "a sequence must have an axis to iterate over, got \(t)"), at: first.location)
            }
            length = t.shape[0]
        }
        let signature = ScanSignature(body: 0, carries: carries.count, over: over.count, invariants: invariants.count,
                                      length: length ?? 0, reverse: reverse, indexed: indexed)
        // `checkpoint=k` (k ≥ 1) or `checkpoint=true` (k = ⌈√T⌉): nested loops.
        var every = 0
        if let (v, key) = flags["checkpoint"] {
            switch v {
            case .bool(let b): every = b ? Int(Double(signature.length).squareRoot().rounded(.up)) : 0
            case .number(let x) where x.isInteger && (x.int ?? 0) >= 1: every = x.int ?? 0
            default:
                throw error(.invalidAttribute(op: form, name: "checkpoint", expected: "true, false or a number of steps k ≥ 1 (a stored carry every k steps)"), at: key.location)
            }
        }
        builder.location = callee.location
        let results: [ValueID]
        do throws(Diagnostic) {
            if every > 0 {
                results = try builder.addCheckpointedScan(body, ids, signature, every: every)
            } else {
                // The body is copied into this function once, however many loops run it.
                let known = bodyIndex[body.name]
                if known == nil { bodyIndex[body.name] = builder.function.bodies.count }
                results = try builder.addScan(body, ids, signature, existing: known)
            }
        } catch {
            var e = error
            e.location = bodyToken.location  // the loop's operands do not fit its body
            throw e
        }
        if results.count == 1 { return Expr(kind: .value(results[0]), location: callee.location) }
        tuples.append(Tuple(values: results, names: body.outputs.map(\.name), origin: form))
        return Expr(kind: .tuple(tuples.count - 1), location: callee.location)
    }

    /// The keyword arguments of a loop form up to its `)` (consumed): each of `groups` a value
    /// or a parenthesized list of values, each of `flags` an attribute value.
    mutating func loopKeywords(_ form: String, groups allowed: [String], flags allowedFlags: [String])
        throws(Diagnostic) -> (groups: [String: ([Expr], SourceLocation)], flags: [String: (RawAttr, Token)]) {
        var groups: [String: ([Expr], SourceLocation)] = [:]
        var flags: [String: (RawAttr, Token)] = [:]
        while current.isPunct(",") {
            advance()
            let key = current
            let all = (allowed + allowedFlags).map { "\($0)=" }
            let list = all.count > 1 ? all.dropLast().joined(separator: ", ") + " or " + (all.last ?? "") : all.joined()
            guard key.kind == .identifier, nextToken.isPunct("=") else { throw expected("a keyword argument of \(form): \(list)") }
            let keyName = name(key.symbol)
            advance()
            advance()
            if groups[keyName] != nil || flags[keyName] != nil { throw error(.duplicateName(keyName), at: key.location) }
            if allowed.contains(keyName) {
                let at = current.location
                var values: [Expr] = []
                if current.isPunct("(") {
                    advance()
                    while !current.isPunct(")") {
                        values.append(try parseExpr())
                        guard current.isPunct(",") else { break }
                        advance()
                    }
                    try expect(")", "',' or ')'")
                } else {
                    values.append(try parseExpr())
                }
                groups[keyName] = (values, at)
            } else if allowedFlags.contains(keyName) {
                flags[keyName] = (try parseAttrValue(), key)
            } else {
                throw error(.unknownAttribute(op: form, name: keyName), at: key.location)
            }
        }
        try expect(")", "',' or ')'")
        return (groups, flags)
    }

    /// `while(cond, body, carry=…, with=…, max_iterations=K)` (docs/language.md, Loops): a
    /// gated `scan` of at most K steps (`GraphBuilder.addWhile`). The values are the final
    /// carries. `(` is consumed.
    mutating func whileCall(_ callee: Token) throws(Diagnostic) -> Expr {
        var functions: [Function] = []
        var tokens: [Token] = []
        for role in ["the condition", "the body"] {
            let t = current
            guard t.kind == .identifier, let f = table.function(named: name(t.symbol)) else {
                if t.kind == .identifier, self.tokens.declaresFunction(named: name(t.symbol)) {
                    throw error(.unknownFunction(name(t.symbol)), at: t.location)
                }
                throw expected("the name of a func defined above, \(role) of while")
            }
            advance()
            functions.append(f)
            tokens.append(t)
            if role == "the condition" { try expect(",", "',' and the body of while") }
        }
        let (groups, flags) = try loopKeywords("while", groups: ["carry", "with"], flags: ["max_iterations"])
        guard let (bound, boundToken) = flags["max_iterations"] else {
            throw error(.missingAttribute(op: "while", name: "max_iterations"), at: callee.location)
        }
        guard case .number(let n) = bound, n.isInteger, let k = n.int, k >= 0, k <= maxElementCount else {
            throw error(.invalidAttribute(op: "while", name: "max_iterations", expected: "an integer in 0...\(maxElementCount), the most steps the loop runs"), at: boundToken.location)
        }
        let (cond, body) = (functions[0], functions[1])
        let carries = groups["carry"]?.0 ?? []
        let invariants = groups["with"]?.0 ?? []
        var ids: [ValueID] = []
        for (k, e) in (carries + invariants).enumerated() {
            let dtype = body.parameters.indices.contains(k) ? body.type(of: body.parameters[k].value).dtype : .f64
            ids.append(try value(e, dtype: dtype))
        }
        builder.location = callee.location
        let results: [ValueID]
        do throws(Diagnostic) {
            results = try builder.addWhile(cond, body, carries: Array(ids[0..<carries.count]), invariants: Array(ids[carries.count...]),
                                           maxIterations: k)
        } catch {
            var e = error
            if !e.location.isKnown { e.location = tokens[1].location }  // the body does not fit the condition
            throw e
        }
        if results.count == 1 { return Expr(kind: .value(results[0]), location: callee.location) }
        tuples.append(Tuple(values: results, names: body.outputs.map(\.name), origin: "while"))
        return Expr(kind: .tuple(tuples.count - 1), location: callee.location)
    }

    /// `stack(a, b, …, axis=k)` (NumPy's): the operands, of one shape, joined along a new axis
    /// k (default 0; −1 is the new last axis) — `expand_dims` of each, then `concat`.
    mutating func stackCall(_ callee: Token, _ args: [Expr], _ keywords: [KeywordArg]) throws(Diagnostic) -> Expr {
        guard !args.isEmpty else { throw error(.wrongArity(op: "stack", expected: "at least 1 operand", got: 0), at: callee.location) }
        var axis = 0
        for k in keywords {
            guard name(k.key.symbol) == "axis" else { throw error(.unknownAttribute(op: "stack", name: name(k.key.symbol)), at: k.key.location) }
            guard case .number(let n) = k.value, n.isInteger, let a = n.int else {
                throw error(.invalidAttribute(op: "stack", name: "axis", expected: "an integer"), at: k.valueLocation)
            }
            axis = a
        }
        var context = DType.f64
        for a in args { if let d = dtype(of: a) { context = d; break } }
        var ids: [ValueID] = []
        for a in args { ids.append(try value(a, dtype: dtype(of: a) ?? context)) }
        let first = builder.type(of: ids[0])
        for (a, id) in zip(args, ids) where builder.type(of: id).shape != first.shape {
            throw error(.expected("an operand of shape \(first.shape) like the first (stack joins values of one shape)", found: "\(builder.type(of: id))"), at: a.location)
        }
        guard let normalized = normalizeAxis(axis, rank: first.rank + 1) else {
            throw error(.invalidAttribute(op: "stack", name: "axis", expected: "an axis in -\(first.rank + 1)..<\(first.rank + 1)"), at: callee.location)
        }
        var expanded: [ValueID] = []
        for id in ids { expanded.append(try add(.expand_dims, [id], Attributes([.axis: .int(normalized)]), at: callee.location)) }
        let result = expanded.count == 1 ? expanded[0] : try add(.concat, expanded, Attributes([.axis: .int(normalized)]), at: callee.location)
        return Expr(kind: .value(result), location: callee.location)
    }

    /// `slogdet(A)`: two values, `det_sign(A)` and `logabsdet(A)` (`s, l = slogdet(A)`).
    mutating func slogdetCall(_ callee: Token, _ args: [Expr], _ keywords: [KeywordArg]) throws(Diagnostic) -> Expr {
        if let k = keywords.first { throw error(.unknownAttribute(op: "slogdet", name: name(k.key.symbol)), at: k.key.location) }
        guard args.count == 1 else { throw error(.wrongArity(op: "slogdet", expected: "1 operand", got: args.count), at: callee.location) }
        let x = try value(args[0], dtype: dtype(of: args[0]) ?? .f64)
        builder.location = callee.location
        let (sign, logAbsDet) = try builder.slogdet(x)
        tuples.append(Tuple(values: [sign, logAbsDet], names: ["sign", "logabsdet"], origin: "slogdet"))
        return Expr(kind: .tuple(tuples.count - 1), location: callee.location)
    }

    /// `conv1d(x, w, stride=s, padding=p, dilation=d)`: NCW data and OIW kernels, integers
    /// (defaults 1, 0, 1); a `conv2d` with a unit height (`GraphBuilder.conv1d`).
    mutating func conv1dCall(_ callee: Token, _ args: [Expr], _ keywords: [KeywordArg]) throws(Diagnostic) -> Expr {
        var settings: [String: Int] = ["stride": 1, "padding": 0, "dilation": 1]
        for k in keywords {
            let key = name(k.key.symbol)
            guard settings[key] != nil else { throw error(.unknownAttribute(op: "conv1d", name: key), at: k.key.location) }
            let least = key == "padding" ? 0 : 1
            guard case .number(let n) = k.value, n.isInteger, let v = n.int, v >= least, v <= 1 << 20 else {
                throw error(.invalidAttribute(op: "conv1d", name: key, expected: "an integer ≥ \(least)"), at: k.valueLocation)
            }
            settings[key] = v
        }
        guard args.count == 2 else { throw error(.wrongArity(op: "conv1d", expected: "2 operands", got: args.count), at: callee.location) }
        var context = DType.f64
        for a in args { if let d = dtype(of: a) { context = d; break } }
        let x = try value(args[0], dtype: context)
        let w = try value(args[1], dtype: context)
        builder.location = callee.location
        let id = try builder.conv1d(x, w, stride: settings["stride"] ?? 1, padding: settings["padding"] ?? 0, dilation: settings["dilation"] ?? 1)
        return Expr(kind: .value(id), location: callee.location)
    }

    /// `eye(n, dtype=…)`, `diagonal(A)`, `diag(v)`, `trace(A)`, `tril(A, k=…)`, `triu(A, k=…)`:
    /// compositions of other ops (`GraphBuilder+Matrix.swift`).
    mutating func matrixCall(_ callee: Token, _ args: [Expr], _ keywords: [KeywordArg]) throws(Diagnostic) -> Expr {
        let name = self.name(callee.symbol)
        var k = 0
        var eyeDType = DType.f64
        var size: Int? = nil
        for kw in keywords {
            let key = self.name(kw.key.symbol)
            switch (name, key) {
            case ("tril", "k"), ("triu", "k"), ("eye", "n"):
                guard case .number(let n) = kw.value, n.isInteger, let v = n.int, key == "k" || v >= 0 else {
                    throw error(.invalidAttribute(op: name, name: key, expected: key == "k" ? "an integer" : "a size n ≥ 0"), at: kw.valueLocation)
                }
                if key == "k" { k = v } else { size = v }
            case ("eye", "dtype"):
                guard case .dtype(let d) = kw.value, d.isFloat else {
                    throw error(.invalidAttribute(op: name, name: key, expected: "f32 or f64"), at: kw.valueLocation)
                }
                eyeDType = d
            default:
                throw error(.unknownAttribute(op: name, name: key), at: kw.key.location)
            }
        }
        let id: ValueID
        builder.location = callee.location
        if name == "eye" {
            if let first = args.first {
                guard args.count == 1, size == nil, case .literal(let n) = first.kind, n.isInteger, let v = n.int, v >= 0 else {
                    throw error(.expected("eye(n, dtype=…) with n an integer literal ≥ 0", found: "\(args.count) operand\(args.count == 1 ? "" : "s")"), at: first.location)
                }
                size = v
            }
            guard let n = size else { throw error(.missingAttribute(op: name, name: "n"), at: callee.location) }
            id = try builder.eye(n, dtype: eyeDType)
        } else {
            guard args.count == 1 else { throw error(.wrongArity(op: name, expected: "1 operand", got: args.count), at: callee.location) }
            let x = try value(args[0], dtype: dtype(of: args[0]) ?? .f64)
            builder.location = callee.location
            switch name {
            case "diagonal": id = try builder.diagonal(x)
            case "diag": id = try builder.diag(x)
            case "trace": id = try builder.trace(x)
            case "inv": id = try builder.inverse(x)
            default: id = try builder.triangle(x, k: k, lower: name == "tril")
            }
        }
        return Expr(kind: .value(id), location: callee.location)
    }

    /// `zeros(shape=…, dtype=…)`, `ones(…)`, `fill(shape=…, value=…, dtype=…)` → `const`.
    mutating func constantSugar(_ callee: Token, _ args: [Expr], _ keywords: [KeywordArg]) throws(Diagnostic) -> Expr {
        let name = self.name(callee.symbol)
        guard args.isEmpty else { throw error(.wrongArity(op: name, expected: "0 operands", got: args.count), at: callee.location) }
        var dtype = DType.f64
        var shape: [Int] = []
        // The literal itself (not its double), so that an i64 fill is exact.
        var fillValue: (Number, SourceLocation)? = name == "fill" ? nil : (Number(integer: name == "zeros" ? 0 : 1), callee.location)
        for k in keywords {
            let kind: AttrKind
            let key = self.name(k.key.symbol)
            switch key {
            case "shape": kind = .ints
            case "dtype": kind = .dtype
            case "value" where name == "fill": kind = .float
            default: throw error(.unknownAttribute(op: name, name: key), at: k.key.location)
            }
            guard let v = Parser.coerce(k.value, to: kind) else {
                throw error(.invalidAttribute(op: name, name: key, expected: Parser.describe(kind, refusing: k.value)), at: k.valueLocation)
            }
            switch (v, k.value) {
            case (.ints(let s), _): shape = s
            case (.dtype(let d), _): dtype = d
            case (.float, .number(let n)): fillValue = (n, k.valueLocation)
            default: break
            }
        }
        guard let (fill, literal) = fillValue else { throw error(.missingAttribute(op: name, name: "value"), at: callee.location) }
        let id = try materialize(fill, as: TensorType(dtype, shape), at: callee.location, literal: literal)
        return Expr(kind: .value(id), location: callee.location)
    }

    /// A call of an op by name: operands, then attributes checked against the op table.
    mutating func opCall(_ op: Op, _ callee: Token, _ args: [Expr], _ keywords: [KeywordArg]) throws(Diagnostic) -> Expr {
        let info = op.info
        // Weakly typed literals take the dtype of the first typed operand (for select, of a or b;
        // never of an index operand), and an index operand's literal is i64.
        let index = op.indexOperand
        var context = DType.f64
        for (k, a) in args.enumerated() where !(op == .select && k == 0) && k != index {
            if let d = dtype(of: a) {
                context = d
                break
            }
        }
        var ids: [ValueID] = []
        for (k, a) in args.enumerated() { ids.append(try value(a, dtype: dtype(of: a) ?? (k == index ? .i64 : context))) }

        var attrs = Attributes()
        var constantLiterals: [(AttrKey, RawAttr, SourceLocation)] = []
        for k in keywords {
            let given = name(k.key.symbol)
            var keyName = given
            var raw = k.value
            if info.family == .reduction, keyName == "axis" {
                if keywords.contains(where: { name($0.key.symbol) == "axes" }) {
                    throw error(.invalidAttribute(op: op.name, name: "axis", expected: "either axis or axes, not both"), at: k.key.location)
                }
                guard case .number(let n) = raw, n.int != nil else {
                    throw error(.invalidAttribute(op: op.name, name: "axis", expected: Parser.describe(.int, refusing: raw)), at: k.valueLocation)
                }
                keyName = "axes"
                raw = .numbers([n])
            }
            guard let key = AttrKey(rawValue: keyName), let spec = info.attributes.first(where: { $0.key == key }) else {
                throw error(.unknownAttribute(op: op.name, name: given), at: k.key.location)
            }
            guard let v = Parser.coerce(raw, to: spec.kind) else {
                throw error(.invalidAttribute(op: op.name, name: given, expected: Parser.describe(spec.kind, refusing: raw)), at: k.valueLocation)
            }
            attrs[key] = v
            if op == .const, key == .value || key == .values { constantLiterals.append((key, raw, k.valueLocation)) }
        }
        if op == .const, let dtype = attrs.dtype, dtype == .i64 || dtype == .bool {
            try exactConstant(&attrs, dtype, constantLiterals)
        }

        let rank = ids.first.map { builder.type(of: $0).rank }
        if op == .pad, attrs[.step] == nil, let rank {
            attrs[.step] = .ints([Int](repeating: 1, count: rank))
        }
        for spec in info.attributes where spec.required && attrs[spec.key] == nil {
            throw error(.missingAttribute(op: op.name, name: spec.key.rawValue), at: callee.location)
        }
        if let rank {
            if let axes = attrs.axes, op == .squeeze || info.family == .reduction {
                attrs[.axes] = .ints(axes.map { normalizeAxis($0, rank: rank) ?? $0 })
            }
            if let axis = attrs.axis {
                attrs[.axis] = .int(normalizeAxis(axis, rank: op == .expand_dims ? rank + 1 : rank) ?? axis)
            }
            if op == .reshape, let shape = attrs.shape, shape.contains(-1), let x = ids.first {
                attrs[.shape] = .ints(try resolveReshape(shape, of: builder.type(of: x), at: callee.location))
            }
            if op == .slice, let steps = attrs.step, steps.contains(where: { $0 > maxElementCount }) {
                throw error(.invalidAttribute(op: op.name, name: "step", expected: "steps of at most \(maxElementCount)"), at: callee.location)
            }
        }
        if op == .matmul, ids.count == 2 {
            return Expr(kind: .value(try matmul(ids[0], ids[1], at: callee.location)), location: callee.location)
        }
        return Expr(kind: .value(try add(op, ids, attrs, at: callee.location)), location: callee.location)
    }

    /// The `value`/`values` of an i64 or bool `const` from their literals: i64 exactly (every
    /// literal an integer in range), bool only 0 or 1; a located error otherwise.
    func exactConstant(_ attrs: inout Attributes, _ dtype: DType, _ literals: [(AttrKey, RawAttr, SourceLocation)]) throws(Diagnostic) {
        for (key, raw, location) in literals {
            let numbers: [Number]
            switch raw {
            case .number(let n): numbers = [n]
            case .numbers(let ns): numbers = ns
            case .bool, .dtype: continue
            }
            if dtype == .bool {
                if let bad = numbers.first(where: { $0.double != 0 && $0.double != 1 }) {
                    throw error(.invalidOperand(op: "const", "\(text(of: bad)) is neither 0 nor 1, but a bool value is needed here"), at: location)
                }
                continue
            }
            var ints: [Int] = []
            for n in numbers { ints.append(try int64(n, at: location)) }
            attrs[key] = key == .value ? .int64Value(ints[0]) : .int64Values(ints)
        }
    }

    /// Replaces the one `-1` of a reshape target by the dimension that keeps the element count.
    func resolveReshape(_ shape: [Int], of t: TensorType, at location: SourceLocation) throws(Diagnostic) -> [Int] {
        guard let resolved = resolvedReshapeShape(shape, count: t.count) else {
            throw Diagnostic(.invalidAttribute(op: "reshape", name: "shape", expected: "one -1 and dimensions whose product divides \(t.count) (the size of \(t)), got \(AttrValue.ints(shape))"), at: location)
        }
        return resolved
    }
}
