// Transpose elision at the plan level: a transpose read only by matrix products is not
// materialized; the products read its source through strides (same elements, same summation
// order). The C backend uses it; the VM makes the same decision on the bytecode at link time
// (GradBytecode/TransposeElision.swift), where it must hold for any program a file holds.

extension ExecutionPlan {
    /// The 2-D transposes of the plan whose every reader is a 2-D floating-point `matmul` (not an
    /// output), such that the transpose's operand is still intact when the last product reads it:
    /// no step from the transpose up to that product writes into the operand's buffer.
    public func transposesReadInPlace() -> Set<ValueID> {
        let plan = self
        let f = plan.function
        var stepOf: [ValueID: Int] = [:]
        for (i, step) in plan.steps.enumerated() {
            switch step {
            case .kernel(let id): stepOf[id] = i
            case .fused(let g, _): stepOf[g.root] = i
            case .loop(let id): for r in plan.schedule.results(of: id) { stepOf[r] = i }
            }
        }
        var candidates: [ValueID: Int] = [:]  // transpose → last reading step
        var rejected: Set<ValueID> = []
        for id in plan.schedule.order {
            let node = f.nodes[id]
            for input in node.inputs where f.nodes[input].op == .transpose {
                let isProduct = node.op == .matmul && node.type.rank == 2 && node.type.dtype.isFloat
                    && f.nodes[input].type.rank == 2
                if isProduct, let i = stepOf[id] {
                    candidates[input] = max(candidates[input] ?? -1, i)
                } else {
                    rejected.insert(input)
                }
            }
        }
        var result: Set<ValueID> = []
        for (t, lastRead) in candidates where !rejected.contains(t) && !plan.schedule.isOutput[t] {
            guard let first = stepOf[t] else { continue }
            let source = plan.storageRoot[f.nodes[t].inputs[0]]
            var intact = true
            if case .workspace(let slot, _)? = plan.locations[source] {
                for v in plan.slots[slot].values where v != source {
                    if let i = stepOf[v], i >= first, i <= lastRead { intact = false }
                }
            }
            if intact { result.insert(t) }
        }
        return result
    }
}
