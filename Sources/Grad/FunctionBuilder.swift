/// Builds a gradc function with ordinary Swift expressions:
///
/// ```swift
/// let fb = FunctionBuilder("mlp")
/// let x = try fb.input("x", .f32, [32, 64])
/// let w1 = try fb.input("w1", .f32, [64, 32])
/// let b1 = try fb.input("b1", .f32, [32])
/// let h = try relu(x.matmul(w1) + b1)
/// let loss = try mean(h)
/// try fb.output(loss, "loss")
/// try fb.output(fb.grad(of: loss, wrt: [w1, b1]))
/// print(fb.function)   // canonical IR
/// ```
///
/// Shapes and dtypes are checked as each value is built; a mismatch throws a `Diagnostic`.
/// `grad`, `jacobian` and `hessian` return graph values, expanded later by `differentiate`.
public final class FunctionBuilder {
    var builder: GraphBuilder
    var parameterNames: Set<String> = []

    public init(_ name: String) {
        builder = GraphBuilder(name: name)
    }

    /// The function built so far.
    public var function: Function { builder.function }

    /// Declares a parameter.
    public func input(_ name: String, _ dtype: DType, _ shape: [Int] = []) throws(Diagnostic) -> Value {
        guard !parameterNames.contains(name) else { throw Diagnostic(.duplicateName(name)) }
        let id = try builder.parameter(name, TensorType(dtype, shape), nameIsUnique: true)
        parameterNames.insert(name)
        return Value(self, id)
    }

    /// Adds a result; unnamed results are called `out<k>`.
    public func output(_ value: Value, _ name: String? = nil) throws(Diagnostic) {
        try check(value)
        let used = Set(builder.function.outputs.map(\.name))
        var chosen = name ?? "out\(builder.function.outputs.count)"
        var k = 2
        while used.contains(chosen) {
            chosen = (name ?? "out") + "_\(k)"
            k += 1
        }
        builder.function.outputs.append(Output(name: chosen, value: value.id))
    }

    public func output(_ values: [Value]) throws(Diagnostic) {
        for v in values { try output(v) }
    }

    /// dy/dx for each x (y scalar), as graph values shaped like each x.
    public func grad(of y: Value, wrt xs: [Value]) throws(Diagnostic) -> [Value] {
        var out: [Value] = []
        for x in xs { out.append(try apply(.grad, [y, x])) }
        return out
    }

    /// The Jacobian of y with respect to x: shape `y.shape + x.shape`; `mode` picks reverse
    /// passes (one per element of y), forward passes (one per element of x), or (`.auto`, the
    /// default) whichever needs fewer.
    ///
    /// `sparse: true` gives only the structural non-zeros, a vector in the order of
    /// `pattern(of:)` (CSR), from one pass per colour of a colouring of the pattern
    /// (docs/sparsity.md); `mode` then picks column (forward) or row (reverse) colouring.
    public func jacobian(of y: Value, wrt x: Value, mode: DerivativeMode = .auto, sparse: Bool = false) throws(Diagnostic) -> Value {
        var attrs = Attributes()
        if mode != .auto { attrs[.forward] = .bool(mode == .forward) }
        if sparse { attrs[.sparse] = .bool(true) }
        return try apply(.jacobian, [y, x], attrs)
    }

    /// The structural sparsity pattern of a sparse `jacobian` or `hessian` value: which
    /// (row, column) each of its elements is. `nil` for any other value.
    public func pattern(of value: Value) throws(Diagnostic) -> SparsityPattern? {
        try check(value)
        let node = builder.function[value.id]
        guard node.op == .jacobian || node.op == .hessian, node.attrs.sparse else { return nil }
        return try builder.function.requestPattern(node.op, node.inputs)
    }

    /// The directional derivative Σᵢ (∂y/∂xᵢ)·vᵢ, shaped like y (`jvp`): one forward pass.
    /// `along[i]` has the type of `wrt[i]`.
    public func jvp(of y: Value, wrt xs: [Value], along vs: [Value]) throws(Diagnostic) -> Value {
        guard xs.count == vs.count, !xs.isEmpty else {
            throw Diagnostic(.other("jvp: give one tangent per value to move (\(xs.count) values, \(vs.count) tangents)"))
        }
        var operands = [y]
        for (x, v) in zip(xs, vs) { operands += [x, v] }
        return try apply(.jvp, operands)
    }

    /// H·v for the Hessian H of a scalar y with respect to x, shaped like x (`hvp`): forward
    /// over reverse, about the cost of two gradients.
    public func hvp(of y: Value, wrt x: Value, along v: Value) throws(Diagnostic) -> Value {
        try apply(.hvp, [y, x, v])
    }

    /// The Hessian of a scalar y with respect to x: shape `x.shape + x.shape`. `sparse: true`
    /// gives only the structural non-zeros in the order of `pattern(of:)`, from one
    /// Hessian-vector product per colour of a symmetric colouring (docs/sparsity.md).
    public func hessian(of y: Value, wrt x: Value, sparse: Bool = false) throws(Diagnostic) -> Value {
        try apply(.hessian, [y, x], sparse ? Attributes([.sparse: .bool(true)]) : Attributes())
    }

    /// A loop (docs/language.md, Loops): `body` run once per row of the `over` sequences,
    /// threading the carries. Returns the loop's values: the final carries, then each per-step
    /// output of the body stacked on a new leading axis. `length` is needed only without
    /// sequences; `indexed` passes the step number (i64) as the body's first parameter (`fori`).
    /// `checkpoint: k` stores a carry every k steps for reverse mode (`checkpoint=k`).
    public func scan(_ body: Function, carry: [Value], over: [Value] = [], with invariants: [Value] = [],
                     length: Int? = nil, reverse: Bool = false, indexed: Bool = false, checkpoint: Int? = nil) throws(Diagnostic) -> [Value] {
        let operands = carry + over + invariants
        for v in operands { try check(v) }
        guard let n = length ?? over.first?.shape.first else {
            throw Diagnostic(.other("scan: give sequences to iterate over, or length: for a counted loop"))
        }
        let signature = ScanSignature(body: 0, carries: carry.count, over: over.count,
                                      invariants: invariants.count, length: n, reverse: reverse, indexed: indexed)
        let ids = operands.map(\.id)
        let values: [ValueID]
        if let k = checkpoint {
            values = try builder.addCheckpointedScan(body, ids, signature, every: k)
        } else {
            values = try builder.addScan(body, ids, signature)
        }
        return values.map { Value(self, $0) }
    }

    /// `fori(body, n, carry=…, with=…)`: a `scan` of n steps whose body takes the step number.
    public func fori(_ body: Function, _ n: Int, carry: [Value], with invariants: [Value] = [], checkpoint: Int? = nil) throws(Diagnostic) -> [Value] {
        try scan(body, carry: carry, with: invariants, length: n, indexed: true, checkpoint: checkpoint)
    }

    /// `while(cond, body, carry=…, with=…, max_iterations=K)`: `body` run while `cond` holds, at
    /// most `maxIterations` times (a gated `scan`, `GraphBuilder.addWhile`). `cond` and `body`
    /// take the carries then the invariants; `cond` returns one bool, `body` the new carries.
    /// Returns the final carries.
    public func whileLoop(_ cond: Function, _ body: Function, carry: [Value], with invariants: [Value] = [],
                          maxIterations: Int) throws(Diagnostic) -> [Value] {
        guard maxIterations >= 0 else { throw Diagnostic(.other("while: max_iterations must be ≥ 0, got \(maxIterations)")) }
        for v in carry + invariants { try check(v) }
        let values = try builder.addWhile(cond, body, carries: carry.map(\.id), invariants: invariants.map(\.id), maxIterations: maxIterations)
        return values.map { Value(self, $0) }
    }

    /// A constant filling `shape` with `value`.
    public func constant(_ value: Double, _ dtype: DType = .f64, _ shape: [Int] = []) throws(Diagnostic) -> Value {
        Value(self, try builder.constant(value, TensorType(dtype, shape)))
    }

    /// A constant of `shape` holding `values` in row-major order (`const(values=[…])`).
    public func constant(values: [Double], _ dtype: DType = .f64, _ shape: [Int]) throws(Diagnostic) -> Value {
        var attrs = Attributes([.dtype: .dtype(dtype), .values: .floats(values)])
        if !shape.isEmpty { attrs[.shape] = .ints(shape) }
        return try apply(.const, [], attrs)
    }

    /// Appends `op(operands, attrs)`, checked by the op's type rule.
    public func apply(_ op: Op, _ operands: [Value], _ attrs: Attributes = Attributes()) throws(Diagnostic) -> Value {
        for v in operands { try check(v) }
        return Value(self, try builder.add(op, operands.map(\.id), attrs))
    }

    func check(_ v: Value) throws(Diagnostic) {
        guard v.builder === self else {
            throw Diagnostic(.other("a value from function '\(v.builder.function.name)' used in '\(function.name)'"))
        }
    }

    /// A scalar literal with the dtype of `like` (literals are weakly typed, as in the .ir language).
    func literal(_ v: Double, like: Value) throws(Diagnostic) -> Value {
        Value(self, try builder.scalar(v, like: like.id))
    }
}

extension FunctionBuilder: CustomStringConvertible {
    public var description: String { printFunction(function) }
}

/// A value of a function being built: a node of the graph.
public struct Value {
    public let builder: FunctionBuilder
    public let id: ValueID

    init(_ builder: FunctionBuilder, _ id: ValueID) {
        self.builder = builder
        self.id = id
    }

    public var type: TensorType { builder.function.type(of: id) }
    public var shape: [Int] { type.shape }
    public var dtype: DType { type.dtype }
}

/// How `jacobian(of:wrt:mode:)` builds a Jacobian (docs/forward-mode.md).
public enum DerivativeMode: Sendable {
    /// One reverse pass per element of y.
    case reverse
    /// One forward (tangent) pass per element of x.
    case forward
    /// Forward when x has fewer elements than y, else reverse.
    case auto
}
