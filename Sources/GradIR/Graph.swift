/// Index of a node (and of the value it produces) inside a `Function`.
public typealias ValueID = Int

/// Whether a node computes the forward function or belongs to a derivative.
public enum NodeRole: UInt8, Hashable, Sendable {
    case forward, gradient
}

/// One SSA value: an op applied to earlier values.
public struct Node: Hashable, Sendable {
    // Field order packs a node into 64 bytes (op and role share the first word).
    public var op: Op
    public var role: NodeRole
    public var inputs: Operands
    public var attrs: Attributes
    public var type: TensorType
    /// Where the node came from in the source (`.unknown` when built in Swift).
    public var location: SourceLocation

    @inlinable
    public init(op: Op, inputs: Operands = [], attrs: Attributes = Attributes(), type: TensorType,
                role: NodeRole = .forward, location: SourceLocation = .unknown) {
        self.op = op
        self.inputs = inputs
        self.attrs = attrs
        self.type = type
        self.role = role
        self.location = location
    }

    public static func == (a: Node, b: Node) -> Bool {
        a.op == b.op && a.inputs == b.inputs && a.attrs == b.attrs && a.type == b.type
    }
    public func hash(into h: inout Hasher) {
        h.combine(op)
        h.combine(inputs)
        h.combine(attrs)
        h.combine(type)
    }
}

/// A named function parameter.
public struct Parameter: Hashable, Sendable {
    public var name: String
    public var value: ValueID
    public init(name: String, value: ValueID) {
        self.name = name
        self.value = value
    }
}

/// A named function result.
public struct Output: Hashable, Sendable {
    public var name: String
    public var value: ValueID
    /// For the result of a sparse `jacobian`/`hessian` request: the pattern whose non-zeros
    /// the value lists in CSR order (set by the expansion, kept by the passes; docs/sparsity.md).
    public var pattern: SparsityPattern?
    public init(name: String, value: ValueID, pattern: SparsityPattern? = nil) {
        self.name = name
        self.value = value
        self.pattern = pattern
    }
}

/// A function: parameters, nodes in topological (SSA) order, outputs.
///
/// Nodes only refer to earlier nodes. The parameters are the `input` nodes, in order.
public struct Function: Hashable, Sendable {
    public var name: String
    public var nodes: [Node] = []
    public var parameters: [Parameter] = []
    public var outputs: [Output] = []
    /// Source location of the `func` keyword.
    public var location: SourceLocation = .unknown
    /// The loop bodies this function's loop nodes name by index (docs/design-loops.md §1):
    /// copies of `func`s defined earlier in the file, so a function is self-contained. Nested
    /// loops are bodies with bodies. Empty until the loop ops land (issue 15); the verifier
    /// checks them and the C compile cache's digest includes them already.
    public var bodies: [Function] = []

    public init(name: String) {
        self.name = name
    }

    public subscript(id: ValueID) -> Node {
        get { nodes[id] }
        set { nodes[id] = newValue }
    }

    public func type(of id: ValueID) -> TensorType { nodes[id].type }

    /// Appends a node without checking it; use `GraphBuilder` for checked construction.
    @discardableResult
    public mutating func append(_ node: Node) -> ValueID {
        nodes.append(node)
        return nodes.count - 1
    }

    /// Adds a parameter of the given type.
    @discardableResult
    public mutating func addParameter(_ name: String, _ type: TensorType, at location: SourceLocation = .unknown) -> ValueID {
        let id = append(Node(op: .input, type: type, location: location))
        parameters.append(Parameter(name: name, value: id))
        return id
    }

    /// The parameter name of an input node, if `id` is one.
    public func parameterName(_ id: ValueID) -> String? {
        parameters.first { $0.value == id }?.name
    }

    /// Whether any node is still a `grad`, `jacobian` or `hessian` request.
    public var hasDerivativeRequests: Bool {
        nodes.contains { $0.op.isDerivativeRequest }
    }

    /// Nodes of this function and of its loop bodies at any depth (what the parser's budget
    /// counts: a call copies the callee's bodies too).
    public var totalNodeCount: Int {
        bodies.reduce(nodes.count) { $0 + $1.totalNodeCount }
    }

    /// Whether this function or any of its loop bodies (at any depth) has a request.
    public var hasDerivativeRequestsAnywhere: Bool {
        hasDerivativeRequests || bodies.contains { $0.hasDerivativeRequestsAnywhere }
    }
}

/// A file's worth of functions, in definition order.
public struct Module: Hashable, Sendable {
    public var functions: [Function] = []
    public init(functions: [Function] = []) {
        self.functions = functions
    }

    public func function(named name: String) -> Function? {
        functions.first { $0.name == name }
    }
}
