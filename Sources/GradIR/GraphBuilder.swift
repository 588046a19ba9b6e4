/// Appends checked nodes to a function: each new node's type is inferred from its operands
/// by the op's type rule, and a mismatch throws a `Diagnostic` at `location`.
public struct GraphBuilder: Sendable {
    public var function: Function
    /// Role given to new nodes (the differentiation pass sets `.gradient`).
    public var role: NodeRole = .forward
    /// Location given to new nodes.
    public var location: SourceLocation = .unknown

    public init(_ function: Function) {
        self.function = function
    }

    public init(name: String) {
        self.function = Function(name: name)
    }

    /// Inlinable: called through captured `inout` builders in the VJP rules, where an opaque
    /// call would copy the whole builder first.
    @inlinable public func type(of id: ValueID) -> TensorType { function.nodes[id].type }
    /// Parts of a node's type, read in place (a `TensorType` copy retains its shape array).
    @inlinable public func dtype(of id: ValueID) -> DType { function.nodes[id].type.dtype }
    @inlinable public func isScalar(_ id: ValueID) -> Bool { function.nodes[id].type.shape.isEmpty }
    @inlinable public func sameShape(_ a: ValueID, _ b: ValueID) -> Bool { function.nodes[a].type.shape == function.nodes[b].type.shape }

    /// Adds a parameter. `nameIsUnique` skips the (linear) duplicate-name check for callers
    /// that keep their own set of names, so declaring N parameters stays O(N).
    @discardableResult
    public mutating func parameter(_ name: String, _ type: TensorType, nameIsUnique: Bool = false) throws(Diagnostic) -> ValueID {
        guard checkedElementCount(type.shape) != nil else {
            throw Diagnostic(.invalidShape("\(type) (dimensions must be ≥ 0, rank ≤ \(maxRank), at most \(maxElementCount) elements)"), at: location)
        }
        if !nameIsUnique, function.parameters.contains(where: { $0.name == name }) {
            throw Diagnostic(.duplicateName(name), at: location)
        }
        return function.addParameter(name, type, at: location)
    }

    /// Appends `op(inputs, attrs)` after checking it with the op's type rule.
    @discardableResult
    public mutating func add(_ op: Op, _ inputs: [ValueID], _ attrs: Attributes = Attributes()) throws(Diagnostic) -> ValueID {
        try add(op, Operands(inputs), attrs)
    }

    /// `add` on operands already in a node's form (the unary and binary conveniences build
    /// them without an array).
    @discardableResult
    public mutating func add(_ op: Op, _ inputs: Operands, _ attrs: Attributes = Attributes()) throws(Diagnostic) -> ValueID {
        if let type = shortcutType(op, inputs) {
            return function.append(Node(op: op, inputs: inputs, attrs: attrs, type: type, role: role, location: location))
        }
        let type: TensorType
        do {
            // A loop's type rule needs the function's bodies, a sparse request its graph.
            type = try function.nodeType(op, inputs, attrs)
        } catch {
            var e = error
            if !e.location.isKnown { e.location = location }
            throw e
        }
        return function.append(Node(op: op, inputs: inputs, attrs: attrs, type: type, role: role, location: location))
    }

    /// A shortcut of `Op.inferType` for the most common nodes, which does not allocate: an
    /// elementwise op whose operands all have one type (`Op.sameTypeElementwiseResult`), and
    /// `grad`. `nil` means "use `inferType`", which also reports every error.
    /// (`GraphBuilderTests` checks that the two agree for every op.)
    func shortcutType(_ op: Op, _ inputs: Operands) -> TensorType? {
        guard let first = inputs.first, inputs.count <= 2 else { return nil }
        let t = function.nodes[first].type
        let second = inputs.count == 2 ? function.nodes[inputs[1]].type : nil
        if op == .grad {
            // grad(y, x) has x's type (a scalar float y, a float x).
            guard let x = second, t.isScalar, t.dtype.isFloat, x.dtype.isFloat else { return nil }
            return x
        }
        if let second, second != t { return nil }
        return op.sameTypeElementwiseResult(t, operandCount: inputs.count)
    }

    // MARK: Conveniences used by the parser, the autodiff rules and the library

    /// `dtype` and `value`, the attributes of every constant: copying them and overwriting the
    /// values in place costs one allocation, building them key by key three.
    private static let constantAttributes = Attributes([.dtype: .dtype(.f64), .value: .float(0)])

    /// A scalar or splat constant.
    public mutating func constant(_ value: Double, _ type: TensorType) throws(Diagnostic) -> ValueID {
        var attrs = GraphBuilder.constantAttributes
        attrs[.dtype] = .dtype(type.dtype)
        if !type.shape.isEmpty { attrs[.shape] = .ints(type.shape) }
        attrs[.value] = .float(value)
        if checkedElementCount(type.shape) != nil {
            // What `Op.inferType` checks for a `const` with a dtype and a value.
            return function.append(Node(op: .const, attrs: attrs, type: type, role: role, location: location))
        }
        return try add(.const, [], attrs)
    }

    public mutating func scalar(_ value: Double, like id: ValueID) throws(Diagnostic) -> ValueID {
        try constant(value, TensorType(type(of: id).dtype))
    }

    public mutating func zeros(like id: ValueID) throws(Diagnostic) -> ValueID {
        try constant(0, type(of: id))
    }

    public mutating func unary(_ op: Op, _ x: ValueID) throws(Diagnostic) -> ValueID { try add(op, Operands(x)) }
    public mutating func binary(_ op: Op, _ a: ValueID, _ b: ValueID) throws(Diagnostic) -> ValueID { try add(op, Operands(a, b)) }

    public mutating func reduce(_ op: Op, _ x: ValueID, axes: [Int]?, keepdims: Bool = false) throws(Diagnostic) -> ValueID {
        var attrs = Attributes()
        let rank = type(of: x).rank
        if let axes { attrs[.axes] = .ints(axes.map { normalizeAxis($0, rank: rank) ?? $0 }) }
        if keepdims { attrs[.keepdims] = .bool(true) }
        return try add(op, [x], attrs)
    }

    public mutating func reshape(_ x: ValueID, _ shape: [Int]) throws(Diagnostic) -> ValueID {
        if type(of: x).shape == shape { return x }
        return try add(.reshape, [x], Attributes([.shape: .ints(shape)]))
    }

    public mutating func broadcast(_ x: ValueID, to shape: [Int]) throws(Diagnostic) -> ValueID {
        if type(of: x).shape == shape { return x }
        return try add(.broadcast_to, [x], Attributes([.shape: .ints(shape)]))
    }

    /// `a @ b` with NumPy's rules for 1-D operands, as in the `.ir` language: a vector on the
    /// left is a row (`expand_dims` at 0), on the right a column (at the end); the product's
    /// added axis is removed again (`reshape`). Operands of rank 0 or both of rank ≥ 2 go to
    /// `matmul` as they are.
    public mutating func matmul(_ a: ValueID, _ b: ValueID) throws(Diagnostic) -> ValueID {
        let (ta, tb) = (type(of: a), type(of: b))
        if (ta.rank >= 2 && tb.rank >= 2) || ta.rank == 0 || tb.rank == 0 {
            return try add(.matmul, [a, b])
        }
        if ta.dtype != tb.dtype { throw Diagnostic(.dtypeMismatch(op: "matmul", [ta, tb]), at: location) }
        let ka = ta.shape[ta.rank - 1]
        let kb = tb.rank == 1 ? tb.shape[0] : tb.shape[tb.rank - 2]
        if ka != kb { throw Diagnostic(.shapeMismatch(op: "matmul", [ta, tb]), at: location) }
        let a2 = ta.rank == 1 ? try add(.expand_dims, [a], Attributes([.axis: .int(0)])) : a
        let b2 = tb.rank == 1 ? try add(.expand_dims, [b], Attributes([.axis: .int(1)])) : b
        let product = try add(.matmul, [a2, b2])
        var shape = type(of: product).shape
        if tb.rank == 1 { shape.removeLast() }
        if ta.rank == 1 { shape.remove(at: shape.count - (tb.rank == 1 ? 1 : 2)) }
        return try add(.reshape, [product], Attributes([.shape: .ints(shape)]))
    }

    public mutating func transpose(_ x: ValueID, _ perm: [Int]) throws(Diagnostic) -> ValueID {
        if perm == Array(0..<perm.count) { return x }
        return try add(.transpose, [x], Attributes([.perm: .ints(perm)]))
    }

    public mutating func cast(_ x: ValueID, to dtype: DType) throws(Diagnostic) -> ValueID {
        if type(of: x).dtype == dtype { return x }
        return try add(.cast, [x], Attributes([.dtype: .dtype(dtype)]))
    }

    /// Python-style slice of one axis (`start`/`stop` may be negative or nil; `step` ≥ 1),
    /// normalized to the canonical `slice` attributes.
    public mutating func slice(_ x: ValueID, axis: Int, start: Int?, stop: Int?, step: Int = 1) throws(Diagnostic) -> ValueID {
        let t = type(of: x)
        guard let ax = normalizeAxis(axis, rank: t.rank) else {
            throw Diagnostic(.invalidAttribute(op: "slice", name: "axis", expected: "an axis of \(t)"), at: location)
        }
        var starts = [Int](repeating: 0, count: t.rank)
        var stops = t.shape
        let steps = [Int](repeating: 1, count: t.rank).enumerated().map { $0.offset == ax ? step : 1 }
        let (lo, hi) = normalizeSliceBounds(start: start, stop: stop, dim: t.shape[ax])
        starts[ax] = lo
        stops[ax] = hi
        return try add(.slice, [x], Attributes([.start: .ints(starts), .stop: .ints(stops), .step: .ints(steps)]))
    }
}

/// A reshape target with its one `-1` replaced by the dimension that keeps `count` elements
/// (as NumPy's `reshape`); `nil` when there is not exactly one `-1` or no dimension fits.
public func resolvedReshapeShape(_ shape: [Int], count: Int) -> [Int]? {
    let others = shape.filter { $0 != -1 }
    guard shape.count - others.count == 1, let known = checkedElementCount(others), known > 0, count % known == 0 else { return nil }
    return shape.map { $0 == -1 ? count / known : $0 }
}

/// Python slice bounds for a positive step, clamped to `0...dim` with `start ≤ stop`.
public func normalizeSliceBounds(start: Int?, stop: Int?, dim: Int) -> (Int, Int) {
    func clamp(_ v: Int) -> Int {
        let w = v < 0 ? v + dim : v
        return Swift.min(Swift.max(w, 0), dim)
    }
    let lo = start.map(clamp) ?? 0
    let hi = stop.map(clamp) ?? dim
    return (lo, Swift.max(lo, hi))
}
