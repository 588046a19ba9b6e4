/// The operands of a node, in order.
///
/// Almost every node has at most three operands; those are kept inline, so a node carries no
/// operand array to allocate, retain or copy-on-write when a pass renumbers it (graphs of a
/// million scalar nodes spend most of their time on exactly that). Longer lists (`concat`,
/// derivative requests) and ids beyond 32 bits live in an array.
public struct Operands: RandomAccessCollection, MutableCollection, Hashable, Sendable, ExpressibleByArrayLiteral,
                        CustomStringConvertible {
    // Inlinable (with the storage visible to other modules): passes read and renumber
    // operands millions of times, and an opaque call per access showed up in profiles.
    @usableFromInline var a: Int32 = 0
    @usableFromInline var b: Int32 = 0
    @usableFromInline var c: Int32 = 0
    @usableFromInline var inlineCount: UInt8 = 0
    /// All the operands, when they do not fit inline; `nil` otherwise.
    @usableFromInline var spilled: [ValueID]?

    @inlinable public init() {}

    public init<S: Sequence>(_ ids: S) where S.Element == ValueID {
        for id in ids { append(id) }
    }

    public init(arrayLiteral ids: ValueID...) {
        self.init(ids)
    }

    /// One operand, without the array a literal builds.
    @inlinable public init(_ a: ValueID) {
        self.init()
        append(a)
    }

    /// Two operands, without the array a literal builds.
    @inlinable public init(_ a: ValueID, _ b: ValueID) {
        self.init()
        append(a)
        append(b)
    }

    @inlinable mutating func append(_ id: ValueID) {
        if spilled != nil {
            spilled?.append(id)
        } else if inlineCount < 3, let small = Int32(exactly: id) {
            setInline(Int(inlineCount), small)
            inlineCount += 1
        } else {
            spill()
            spilled?.append(id)
        }
    }

    @inlinable public var startIndex: Int { 0 }
    @inlinable public var endIndex: Int { spilled?.count ?? Int(inlineCount) }
    @inlinable public var count: Int { spilled?.count ?? Int(inlineCount) }

    @inlinable public subscript(i: Int) -> ValueID {
        get {
            if let spilled { return spilled[i] }
            precondition(i >= 0 && i < Int(inlineCount), "operand index out of range")  // trap-ok: Array's contract; arity is checked by the type rules before any rule indexes
            switch i {
            case 0: return Int(a)
            case 1: return Int(b)
            default: return Int(c)
            }
        }
        set {
            if spilled != nil {
                spilled?[i] = newValue
                return
            }
            precondition(i >= 0 && i < Int(inlineCount), "operand index out of range")  // trap-ok: Array's contract; arity is checked by the type rules before any rule indexes
            if let small = Int32(exactly: newValue) {
                setInline(i, small)
            } else {
                spill()
                spilled?[i] = newValue
            }
        }
    }

    @inlinable mutating func setInline(_ i: Int, _ v: Int32) {
        switch i {
        case 0: a = v
        case 1: b = v
        default: c = v
        }
    }

    /// Moves the inline operands into an array.
    @usableFromInline mutating func spill() {
        var all: [ValueID] = []
        all.reserveCapacity(Int(inlineCount) + 1)
        for i in 0..<Int(inlineCount) { all.append(self[i]) }
        spilled = all
        inlineCount = 0
        (a, b, c) = (0, 0, 0)
    }

    @inlinable public static func == (x: Operands, y: Operands) -> Bool {
        guard x.count == y.count else { return false }
        for i in 0..<x.count where x[i] != y[i] { return false }
        return true
    }

    public func hash(into h: inout Hasher) {
        h.combine(count)
        for id in self { h.combine(id) }
    }

    public var description: String { "[" + map(String.init).joined(separator: ", ") + "]" }
}
