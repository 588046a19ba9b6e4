/// Dead-code elimination: keeps the nodes some output depends on, and every parameter (the
/// parameter list is the ABI, even for unused inputs). Returns whether anything was removed.
func eliminateDeadCode(_ f: inout Function) -> Bool {
    let count = f.nodes.count
    var live = [Bool](repeating: false, count: count)
    for o in f.outputs where o.value >= 0 && o.value < count { live[o.value] = true }
    for p in f.parameters where p.value >= 0 && p.value < count { live[p.value] = true }
    var liveCount = 0
    for id in stride(from: count - 1, through: 0, by: -1) where live[id] {
        liveCount += 1
        for input in f.nodes[id].inputs where input >= 0 && input < id { live[input] = true }
    }
    guard liveCount < count else { return false }
    // Compacts in place: live nodes move down over dead ones (no second array of a million
    // nodes to allocate and fault in).
    var remap = [ValueID](repeating: -1, count: count)
    var kept = 0
    f.nodes.withUnsafeMutableBufferPointer { nodes in
        for id in 0..<count where live[id] {
            for k in nodes[id].inputs.indices {
                let new = remap[nodes[id].inputs[k]]
                if new != nodes[id].inputs[k] { nodes[id].inputs[k] = new }
            }
            if kept != id { nodes.swapAt(kept, id) }
            remap[id] = kept
            kept += 1
        }
    }
    f.nodes.removeLast(count - kept)
    for i in f.parameters.indices { f.parameters[i].value = remap[f.parameters[i].value] }
    for i in f.outputs.indices { f.outputs[i].value = remap[f.outputs[i].value] }
    return true
}
