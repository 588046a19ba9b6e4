/// Dead-code elimination: keeps the nodes some output depends on, and every parameter (the
/// parameter list is the ABI, even for unused inputs). Returns whether anything was removed.
func eliminateDeadCode(_ f: inout Function) -> Bool {
    let count = f.nodes.count
    var live = [Bool](repeating: false, count: count)
    for o in f.outputs where o.value >= 0 && o.value < count { live[o.value] = true }
    for p in f.parameters where p.value >= 0 && p.value < count { live[p.value] = true }
    // Marks from the outputs back: a node's operands come before it. (Through the storage,
    // operand by operand: on a million nodes, copying each node's operand list showed.)
    let liveCount = f.nodes.withUnsafeBufferPointer { nodes in
        live.withUnsafeMutableBufferPointer { live in
            var n = 0
            for id in stride(from: count - 1, through: 0, by: -1) where live[id] {
                n += 1
                for k in 0..<nodes[id].inputs.count {
                    let input = nodes[id].inputs[k]
                    if input >= 0 && input < id { live[input] = true }
                }
            }
            return n
        }
    }
    guard liveCount < count else { return false }
    // Compacts in place: live nodes move down over dead ones (no second array of a million
    // nodes to allocate and fault in).
    var remap = [ValueID](repeating: -1, count: count)
    var kept = 0
    f.nodes.withUnsafeMutableBufferPointer { nodes in
        remap.withUnsafeMutableBufferPointer { remap in
            for id in 0..<count where live[id] {
                for k in 0..<nodes[id].inputs.count {
                    let old = nodes[id].inputs[k]
                    guard old >= 0 && old < id else { continue }  // malformed (the verifier's to report): left as is
                    let new = remap[old]
                    if new != old { nodes[id].inputs[k] = new }
                }
                if kept != id { nodes.swapAt(kept, id) }
                remap[id] = kept
                kept += 1
            }
        }
    }
    f.nodes.removeLast(count - kept)
    for i in f.parameters.indices { f.parameters[i].value = remap[f.parameters[i].value] }
    for i in f.outputs.indices { f.outputs[i].value = remap[f.outputs[i].value] }
    return true
}
