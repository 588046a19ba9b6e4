// The execution plan: schedule + fusion + buffer plan, shared by the VM and the C backend.

/// Where a value's elements live while the function runs.
///
/// Every buffer is dense and row-major in the value's dtype (`bool` is one byte, 0 or 1).
public enum BufferLocation: Hashable, Sendable, CustomStringConvertible {
    /// The caller's buffer of parameter `index` (read only).
    case input(Int)
    /// The constant produced by `const` node `node` (read only; see `ExecutionPlan.constants`).
    case constant(ValueID)
    /// The caller's buffer of output `index`: the step that computes the value writes there.
    case output(Int)
    /// Bytes `offset ..< offset + size` of the workspace (`offset` is a multiple of 64 for
    /// buffers of 64 bytes or more, of 8 otherwise).
    case workspace(slot: Int, offset: Int)

    public var description: String {
        switch self {
        case .input(let i): return "in\(i)"
        case .constant(let id): return "const%\(id)"
        case .output(let i): return "out\(i)"
        case .workspace(let slot, let offset): return "ws\(slot)@\(offset)"
        }
    }
}

/// One reusable region of the workspace.
public struct BufferSlot: Hashable, Sendable {
    /// Byte offset in the workspace.
    public var offset: Int
    /// Size in bytes (the largest value ever placed there fits).
    public var bytes: Int
    /// The values that occupy the slot over the run, in order.
    public var values: [ValueID]
}

/// One unit of work, in execution order.
public enum PlanStep: Hashable, Sendable {
    /// Computes node `node` with its op's kernel (reads its operands, writes its location).
    case kernel(ValueID)
    /// Computes a fusion group's root in one elementwise loop. When `inPlaceOf` is set, the
    /// root's buffer is that leaf's buffer (the leaf has the root's shape and dtype size and
    /// dies here, so each element is read before it is overwritten, at the same index).
    case fused(FusionGroup, inPlaceOf: ValueID?)
    /// Runs `scan` node `node`: its plan is `ExecutionPlan.loops[node]`. The step reads the
    /// loop's operands and writes every scheduled `result` of it.
    case loop(ValueID)
}

/// How a `scan` node runs: its body's own plan (run once per step, with its own workspace,
/// which a backend places after the enclosing function's) and where its values go.
public struct LoopPlan: Sendable {
    public var signature: ScanSignature
    /// The plan of the body, a function of (step number?, carries, sequence rows,
    /// invariants) returning (new carries, per-step outputs).
    public var body: ExecutionPlan
    /// For each value of the loop (final carries, then stacked per-step outputs), the
    /// scheduled `result` node that holds it, or `nil` when nothing reads it.
    public var results: [ValueID?]
}

/// After all steps: copy value `value` (an input, a constant, or a value already returned by
/// an earlier output) into the buffer of output `output`.
public struct OutputCopy: Hashable, Sendable {
    public var value: ValueID
    public var output: Int
}

/// Everything a backend needs to run a function without further analysis:
/// steps in order, where every value lives, and the workspace size.
///
/// How a backend uses it:
/// 1. Allocate `workspaceBytes` (64-byte aligned) once; it can be reused across calls.
/// 2. Materialize `constants` (each `const` node's elements, computed by the reference
///    kernels) wherever the backend keeps read-only data.
/// 3. Run `steps` in order. For `.kernel(id)` evaluate node `id` reading its operands at
///    `location(of:)` and writing its own location; for `.fused(g, _)` evaluate `g.nodes` per
///    element of `g.root`'s shape, broadcasting each leaf. Views (`reshape`, `expand_dims`,
///    `squeeze`, and a `slice` whose elements are one contiguous run of its operand's) have
///    no step: their buffer is their operand's, `viewOffsets[id]` elements in.
/// 4. Perform `outputCopies`.
///
/// A value's buffer is never overwritten while a later step may still read it; outputs,
/// inputs and constants are never written by a step other than the one computing the value.
public struct ExecutionPlan: Sendable {
    /// The function, as scheduled (not modified).
    public var function: Function
    public var schedule: Schedule
    public var steps: [PlanStep]
    /// Location of every computed value (`nil` for nodes that are not scheduled, and for
    /// members of fusion groups other than the root: they are never materialized).
    public var locations: [BufferLocation?]
    /// For a view or a repeated `result`, the value whose buffer it shares (itself otherwise).
    public var storageRoot: [ValueID]
    /// Where a value starts in its storage root's buffer, in elements (non-zero only for
    /// contiguous slices and views of them). `locations` holds the root's location.
    public var viewOffsets: [Int]
    public var slots: [BufferSlot]
    /// Bytes of workspace the steps need (a compile-time constant).
    public var workspaceBytes: Int
    /// The `const` nodes that are scheduled, in node order.
    public var constants: [ValueID]
    public var outputCopies: [OutputCopy]
    /// The plan of each scheduled `scan` node.
    public var loops: [ValueID: LoopPlan]

    /// The location of a value's storage root (add `viewOffsets[id]` elements for the value).
    public func location(of id: ValueID) -> BufferLocation? { locations[id] }

    /// Bytes of a value's buffer.
    public func byteCount(of id: ValueID) -> Int {
        let t = function.nodes[id].type
        return t.count * t.dtype.byteSize
    }

    /// Schedules, fuses and plans buffers for `f`.
    ///
    /// `fuse`: form fusion groups (off gives one step per node, each elementwise node a
    /// one-node group). `inPlace`: let a fused root reuse a dying leaf's buffer.
    /// `onPhase`: called with each phase's name as it ends (`Self.phases`; `--timings`).
    public init(_ f: Function, fuse: Bool = true, inPlace: Bool = true, onPhase: ((String) -> Void)? = nil) throws(Diagnostic) {
        let schedule = try Schedule(f)
        onPhase?("schedule")
        let (groups, groupOf) = fuse ? formFusionGroups(f, schedule: schedule) : Self.singleNodeGroups(f, schedule)
        onPhase?("fusion")
        let (root, offsets) = Self.storageRoots(f, schedule)
        var program = Self.steps(f, schedule, groups: groups, groupOf: groupOf, root: root)
        onPhase?("steps")
        var loops: [ValueID: LoopPlan] = [:]
        for case .loop(let id) in program.steps {
            loops[id] = try Self.loopPlan(f, schedule, id, fuse: fuse, inPlace: inPlace)
        }
        onPhase?("loop bodies")
        var lastUse = Self.lastUses(program, count: f.nodes.count)
        var (locations, outputCopies) = Self.placeOutputs(f, root: root, offsets: offsets, stepCount: program.steps.count, lastUse: &lastUse)
        for (k, p) in f.parameters.enumerated() { locations[p.value] = .input(k) }
        for c in program.constants { locations[c] = .constant(c) }
        onPhase?("liveness")
        let (slots, workspaceBytes) = Self.allocateWorkspace(f, &program, root: root, offsets: offsets, lastUse: lastUse,
                                                            locations: &locations, inPlace: inPlace)
        for id in schedule.order where root[id] != id {  // views and repeated results
            locations[id] = locations[root[id]]
        }
        onPhase?("slot allocation")
        self.function = f
        self.schedule = schedule
        self.steps = program.steps
        self.locations = locations
        self.storageRoot = root
        self.viewOffsets = offsets
        self.slots = slots
        self.workspaceBytes = workspaceBytes
        self.constants = program.constants
        self.outputCopies = outputCopies
        self.loops = loops
    }

    /// The phases `init` reports to `onPhase`, in order: schedule (and the graph's checks),
    /// fusion groups, storage roots and steps, the plans of loop bodies, liveness and output
    /// placement, workspace slot allocation.
    public static let phases = ["schedule", "fusion", "steps", "loop bodies", "liveness", "slot allocation"]

    // MARK: Phases

    /// Without fusion: each float elementwise node (but scalar f64 ones, which the VM's
    /// scalar machine runs) is a group of its own.
    private static func singleNodeGroups(_ f: Function, _ schedule: Schedule) -> (groups: [FusionGroup], groupOf: [Int?]) {
        var groups: [FusionGroup] = []
        var groupOf = [Int?](repeating: nil, count: f.nodes.count)
        for id in schedule.order {
            guard let t = fusedComputeType(f.nodes[id], in: f), !isScalarF64Elementwise(f.nodes[id], in: f) else { continue }
            var seen: [ValueID] = []
            for i in f.nodes[id].inputs where !seen.contains(i) { seen.append(i) }
            groupOf[id] = groups.count
            groups.append(FusionGroup(root: id, nodes: [id], leaves: seen, dtype: t))
        }
        return (groups, groupOf)
    }

    /// Storage roots: a view shares its operand's buffer (transitively), a repeated `result`
    /// the first result of the same value; with each value's element offset in its root's.
    private static func storageRoots(_ f: Function, _ schedule: Schedule) -> (roots: [ValueID], offsets: [Int]) {
        var root = Array(0..<f.nodes.count)
        var offset = [Int](repeating: 0, count: f.nodes.count)
        for id in schedule.order {
            if let k = viewOffset(f, id) {
                let x = f.nodes[id].inputs[0]
                root[id] = root[x]
                offset[id] = offset[x] + k
            } else if let first = schedule.repeatedResults[id] {
                root[id] = root[first]
            }
        }
        placeConcatParts(f, schedule, &root, &offset)
        return (root, offset)
    }

    /// Operands a `concat` is the only reader of are computed straight into their place in its
    /// buffer: a part whose elements are one contiguous run of the concat's (every axis before
    /// the concat's axis has extent 1), written by a step of its own (not an input, constant,
    /// view, loop result or output), gets the concat's storage root at its offset; the concat
    /// then copies only its other parts (a backend skips a part already in place). Concats are
    /// visited last first, so a concat that is itself a part of another passes its place on.
    private static func placeConcatParts(_ f: Function, _ schedule: Schedule, _ root: inout [ValueID], _ offset: inout [Int]) {
        for c in schedule.order.reversed() where f.nodes[c].op == .concat {
            let node = f.nodes[c]
            let shape = node.type.shape
            guard let axis = node.attrs.axis.flatMap({ normalizeAxis($0, rank: shape.count) }),
                  shape[..<axis].allSatisfy({ $0 == 1 }) else { continue }
            let inner = shape[(axis + 1)...].reduce(1, *)
            var occurrences: [ValueID: Int] = [:]
            for v in node.inputs { occurrences[v, default: 0] += 1 }
            var at = 0
            for v in node.inputs {
                let part = f.nodes[v]
                defer { at += part.type.shape[axis] * inner }
                guard root[v] == v, schedule.useCount[v] == 1, !schedule.isOutput[v], part.type.count > 0,
                      part.type.dtype == node.type.dtype,
                      ![.input, .const, .result, .scan].contains(part.op), viewOffset(f, v) == nil,
                      schedule.repeatedResults[v] == nil, occurrences[v] == 1 else { continue }
                root[v] = root[c]
                offset[v] = offset[c] + at
            }
        }
    }

    /// For a node whose elements are its operand's elements `k ..< k + count` in the same
    /// order, that `k`: the view ops (0) and a non-empty `slice` of one contiguous run (a unit
    /// step on the last axis it does not take whole, one index on each axis before that one,
    /// the whole of every axis after it). Nil for any other node: it gets a step and a buffer of its own.
    static func viewOffset(_ f: Function, _ id: ValueID) -> Int? {
        let op = f.nodes[id].op  // the op alone first: most nodes are neither (no copy of the node)
        if op.isView { return 0 }
        guard op == .slice else { return nil }
        let node = f.nodes[id]
        guard node.type.count > 0, let x = node.inputs.first,
              let start = node.attrs.start, let step = node.attrs.step else { return nil }
        let inShape = f.nodes[x].type.shape, outShape = node.type.shape
        guard inShape.count == outShape.count, start.count == inShape.count, step.count == inShape.count else { return nil }
        // The last axis the slice does not take whole (none: the identity, if no step reverses).
        let axis = inShape.indices.last(where: { outShape[$0] != inShape[$0] }) ?? -1
        for d in inShape.indices {
            let unitStep = step[d] == 1 || outShape[d] == 1
            if axis < 0 {
                guard unitStep else { return nil }
            } else if d < axis {
                guard outShape[d] == 1 else { return nil }
            } else if d == axis {
                guard unitStep else { return nil }
            } else {
                guard start[d] == 0, unitStep else { return nil }   // whole, as `axis` is the last partial one
            }
        }
        let strides = rowMajorStrides(inShape)
        return zip(start, strides).reduce(0) { $0 + $1.0 * $1.1 }
    }

    /// The plan of `scan` node `id`: its body planned as a function, and its scheduled results.
    private static func loopPlan(_ f: Function, _ schedule: Schedule, _ id: ValueID, fuse: Bool, inPlace: Bool) throws(Diagnostic) -> LoopPlan {
        let node = f.nodes[id]
        let s = try ScanSignature(node.attrs, operandCount: node.inputs.count)
        guard s.body < f.bodies.count else {
            throw Diagnostic(.invalidAttribute(op: "scan", name: "body", expected: "a body of this function, got \(s.body)"), at: node.location)
        }
        let body = f.bodies[s.body]
        var results = [ValueID?](repeating: nil, count: body.outputs.count)
        for r in schedule.results(of: id) {
            guard let k = f.nodes[r].attrs.int(.index), k >= 0, k < results.count else { continue }
            results[k] = r
        }
        return LoopPlan(signature: s, body: try ExecutionPlan(body, fuse: fuse, inPlace: inPlace), results: results)
    }

    /// The steps in execution order, with what each reads (as storage roots) and writes.
    ///
    /// Reads and writes are one flat array each with a start per step (CSR), not an array per
    /// step: a million small arrays cost an allocation each, and walking them missed the
    /// cache (lowering grew faster than the graph beyond 10⁶ nodes).
    struct Steps {
        var steps: [PlanStep] = []
        /// Step i reads `readValues[readStarts[i] ..< readStarts[i + 1]]`.
        var readStarts: [Int] = [0]
        var readValues: [ValueID] = []
        /// Step i writes `writeValues[writeStarts[i] ..< writeStarts[i + 1]]` (a loop writes
        /// all its results).
        var writeStarts: [Int] = [0]
        var writeValues: [ValueID] = []
        var constants: [ValueID] = []

        /// The values step `i` reads (storage roots).
        func reads(_ i: Int) -> ArraySlice<ValueID> { readValues[readStarts[i]..<readStarts[i + 1]] }
        /// The values step `i` writes.
        func writes(_ i: Int) -> ArraySlice<ValueID> { writeValues[writeStarts[i]..<writeStarts[i + 1]] }

        /// Appends a step with what it reads and writes.
        mutating func append<R: Sequence<ValueID>, W: Sequence<ValueID>>(_ step: PlanStep, reads: R, writes: W) {
            steps.append(step)
            readValues.append(contentsOf: reads)
            readStarts.append(readValues.count)
            writeValues.append(contentsOf: writes)
            writeStarts.append(writeValues.count)
        }
    }

    private static func steps(_ f: Function, _ schedule: Schedule, groups: [FusionGroup], groupOf: [Int?], root: [ValueID]) -> Steps {
        var s = Steps()
        // Sized once: growing million-element arrays by doubling cost more in copies and fresh
        // pages than the steps themselves.
        s.steps.reserveCapacity(schedule.order.count)
        s.readStarts.reserveCapacity(schedule.order.count + 1)
        s.writeStarts.reserveCapacity(schedule.order.count + 1)
        s.writeValues.reserveCapacity(schedule.order.count)
        s.readValues.reserveCapacity(2 * schedule.order.count)
        let nodes = f.nodes
        for id in schedule.order {
            // Fields read in place: binding the whole node copies it (a retain and release of
            // each of its arrays), which was most of this phase on scalar graphs.
            let op = nodes[id].op
            if op == .const { s.constants.append(id) }
            if op == .input || op == .const || op == .result || viewOffset(f, id) != nil { continue }
            if op == .scan {
                s.append(.loop(id), reads: nodes[id].inputs.lazy.map { root[$0] }, writes: schedule.results(of: id))
                continue
            }
            if let g = groupOf[id] {
                let group = groups[g]
                guard group.root == id else { continue }
                s.append(.fused(group, inPlaceOf: nil), reads: group.leaves.lazy.map { root[$0] }, writes: CollectionOfOne(id))
            } else {
                s.append(.kernel(id), reads: nodes[id].inputs.lazy.map { root[$0] }, writes: CollectionOfOne(id))
            }
        }
        return s
    }

    /// Liveness: the last step reading each storage root (−1: none).
    private static func lastUses(_ program: Steps, count: Int) -> [Int] {
        var lastUse = [Int](repeating: -1, count: count)
        for i in program.steps.indices {
            for v in program.reads(i) { lastUse[v] = max(lastUse[v], i) }
        }
        return lastUse
    }

    /// Outputs: the computing step writes straight into the caller's buffer where it can; a
    /// value returned twice, an input or a constant is copied at the end (and lives on).
    private static func placeOutputs(_ f: Function, root: [ValueID], offsets: [Int], stepCount: Int,
                                     lastUse: inout [Int]) -> ([BufferLocation?], [OutputCopy]) {
        var locations = [BufferLocation?](repeating: nil, count: f.nodes.count)
        var copies: [OutputCopy] = []
        for (k, output) in f.outputs.enumerated() {
            let r = root[output.value]
            let op = f.nodes[r].op
            // A part of a larger value (a contiguous slice) is copied out of it.
            let whole = offsets[output.value] == 0 && f.nodes[output.value].type.count == f.nodes[r].type.count
            if locations[r] == nil, op != .input, op != .const, whole {
                locations[r] = .output(k)
            } else {
                copies.append(OutputCopy(value: output.value, output: k))
                lastUse[r] = stepCount
            }
        }
        return (locations, copies)
    }

    /// Workspace: each value a step writes gets a slot, freed after its last read; a fused
    /// root may take over a leaf that dies at that step (`inPlace`), otherwise the best-fitting
    /// free slot, otherwise a new one. Returns the slots and the workspace size.
    private static func allocateWorkspace(_ f: Function, _ program: inout Steps, root: [ValueID], offsets: [Int], lastUse: [Int],
                                          locations: inout [BufferLocation?], inPlace: Bool) -> ([BufferSlot], Int) {
        let nodes = f.nodes
        let end = program.steps.count
        var slots: [BufferSlot] = []
        var free = FreeSlots()
        var slotOf = [Int](repeating: -1, count: nodes.count)
        var workspaceBytes = 0
        // The values whose last reader is step i, in node order:
        // dyingValues[dyingStarts[i] ..< dyingStarts[i + 1]] (a counting sort by step).
        var dyingStarts = [Int](repeating: 0, count: end + 1)
        for id in nodes.indices where lastUse[id] >= 0 && lastUse[id] < end { dyingStarts[lastUse[id] + 1] += 1 }
        for i in 0..<end { dyingStarts[i + 1] += dyingStarts[i] }
        var dyingValues = [ValueID](repeating: 0, count: dyingStarts[end])
        do {
            var next = dyingStarts
            for id in nodes.indices where lastUse[id] >= 0 && lastUse[id] < end {
                dyingValues[next[lastUse[id]]] = id
                next[lastUse[id]] += 1
            }
        }
        /// The best-fitting free slot for `bytes`, else a new one; `value` occupies it.
        func allocate(_ bytes: Int, _ value: ValueID) -> Int {
            if let found = free.takeBestFit(bytes) {
                slots[found].values.append(value)
                return found
            }
            let align = bytes >= 64 ? 64 : 8
            let offset = (workspaceBytes + align - 1) / align * align
            slots.append(BufferSlot(offset: offset, bytes: bytes, values: [value]))
            workspaceBytes = offset + bytes
            return slots.count - 1
        }
        for i in program.steps.indices {
            let writes = program.writes(i)
            for written in writes where locations[written] == nil {
                // A concat's part: written into the concat's buffer, allocated now if it is not
                // (the concat's later step finds it placed).
                let target = root[written]
                if target != written, nodes[target].op == .concat {
                    if locations[target] == nil {
                        let s = allocate(nodes[target].type.count * nodes[target].type.dtype.byteSize, target)
                        slotOf[target] = s
                        locations[target] = .workspace(slot: s, offset: slots[s].offset)
                    }
                    locations[written] = locations[target]
                    continue
                }
                let bytes = nodes[written].type.count * nodes[written].type.dtype.byteSize
                var reused: ValueID?
                if inPlace, case .fused(let g, _) = program.steps[i] {
                    // A leaf reads its root's whole buffer from its start, and no other leaf
                    // reads another part of it: element j is read before it is overwritten.
                    func wholeView(_ leaf: ValueID) -> Bool {
                        offsets[leaf] == 0 && nodes[leaf].type.count == nodes[root[leaf]].type.count
                    }
                    for leaf in g.leaves {
                        let r = root[leaf]
                        let lt = nodes[leaf].type
                        if slotOf[r] >= 0, lastUse[r] == i, lt.shape == nodes[written].type.shape,
                           lt.dtype.byteSize == nodes[written].type.dtype.byteSize,
                           g.leaves.allSatisfy({ root[$0] != r || wholeView($0) }) {
                            reused = leaf
                            break
                        }
                    }
                    if let leaf = reused {
                        let r = root[leaf]
                        slotOf[written] = slotOf[r]
                        slotOf[r] = -1
                        slots[slotOf[written]].values.append(written)
                        locations[written] = locations[r]
                        program.steps[i] = .fused(g, inPlaceOf: leaf)
                    }
                }
                if reused == nil {
                    let s = allocate(bytes, written)
                    slotOf[written] = s
                    locations[written] = .workspace(slot: s, offset: slots[s].offset)
                }
            }
            // Free the buffers whose last reader was this step (and a result nobody reads).
            for r in dyingValues[dyingStarts[i]..<dyingStarts[i + 1]] where slotOf[r] >= 0 {
                free.insert(slotOf[r], bytes: slots[slotOf[r]].bytes)
                slotOf[r] = -1
            }
            for r in writes where lastUse[r] < 0 && slotOf[r] >= 0 {
                free.insert(slotOf[r], bytes: slots[slotOf[r]].bytes)
                slotOf[r] = -1
            }
        }
        return (slots, (workspaceBytes + 63) / 64 * 64)
    }
}

/// The free workspace slots, for best-fit allocation in O(log k) (k distinct slot sizes):
/// the smallest slot that holds the bytes asked for, the earliest freed among slots of that
/// size. (A linear scan of one free list made lowering quadratic: a graph whose backward pass
/// frees its forward values one by one has O(n) free slots at each step.)
struct FreeSlots {
    /// The distinct sizes that have free slots, ascending; `queues[k]` holds the free slots of
    /// `sizes[k]` in the order they were freed, from `heads[k]` on (never empty: a size whose
    /// last slot is taken is removed). Parallel arrays rather than dictionaries keyed by size:
    /// two hash lookups per allocation were most of the allocator's time on scalar graphs.
    private var sizes: [Int] = []
    private var queues: [[Int]] = []
    private var heads: [Int] = []

    mutating func insert(_ slot: Int, bytes: Int) {
        let i = firstIndex(notBelow: bytes)
        if i < sizes.count, sizes[i] == bytes {
            queues[i].append(slot)
        } else {
            sizes.insert(bytes, at: i)
            queues.insert([slot], at: i)
            heads.insert(0, at: i)
        }
    }

    /// Removes and returns the best-fitting slot for `bytes`, if any holds them.
    mutating func takeBestFit(_ bytes: Int) -> Int? {
        let i = firstIndex(notBelow: bytes)
        guard i < sizes.count else { return nil }
        let head = heads[i]
        let slot = queues[i][head]
        if head + 1 == queues[i].count {
            sizes.remove(at: i)
            queues.remove(at: i)
            heads.remove(at: i)
        } else {
            heads[i] = head + 1
        }
        return slot
    }

    /// The index of the first size ≥ `bytes` (binary search).
    private func firstIndex(notBelow bytes: Int) -> Int {
        var lo = 0, hi = sizes.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if sizes[mid] < bytes { lo = mid + 1 } else { hi = mid }
        }
        return lo
    }
}
