// A tour of the Swift library, from building a graph to calling a compiled function.
// docs/library.md walks through this file; it is built and run by the tests, so the
// documentation cannot drift from the API.
//
//   swift run Tour

import Foundation
import Grad

do {
    // MARK: 1. Build a graph with Swift expressions

    // z = (x + σ(x)) / (σ(x) + (x + y)²): the lecture's graph (deck 003).
    let fb = FunctionBuilder("seed")
    let x = try fb.input("x", .f64)              // a scalar parameter
    let y = try fb.input("y", .f64)
    let z = try (x + sigmoid(x)) / (sigmoid(x) + (x + y).pow(2))
    try fb.output(z, "z")

    // MARK: 2. Ask for derivatives — they are graph values, not numbers

    let g = try fb.grad(of: z, wrt: [x, y])       // [dz/dx, dz/dy]
    try fb.output(g[0], "dzdx")
    try fb.output(g[1], "dzdy")
    let second = try fb.grad(of: g[0], wrt: [x])  // nest: d²z/dx²
    try fb.output(second[0], "d2zdx2")

    // MARK: 3. Look at it: canonical IR text (valid .ir) and Graphviz

    print(fb)                                     // the graph as built, grad nodes included
    let expanded = try Differentiator.expand(fb.function)
    print("after differentiation: \(expanded.nodes.count) nodes")
    let dot = printDot(expanded)                  // forward and gradient nodes in one picture
    print("DOT: \(dot.split(separator: "\n").count) lines")

    // MARK: 4. Compile once, call many times

    let seed = try compile(fb.function, backend: .reference)
    let out = try seed(["x": Tensor(4.0), "y": Tensor(3.0)])     // by name …
    for (o, t) in zip(seed.function.outputs, out) { print("\(o.name) = \(t)") }
    let again = try seed([Tensor(1.0), Tensor(2.0)])             // … or in parameter order
    print("z(1, 2) = \(again[0].scalar ?? .nan)")

    // MARK: 5. Tensors, shapes and a Jacobian

    let mb = FunctionBuilder("softmax")
    let v = try mb.input("v", .f64, [3])
    let s = try softmax(v)
    try mb.output(s, "s")
    try mb.output(mb.jacobian(of: s, wrt: v), "J")               // shape [3, 3]
    let sm = try compile(mb.function, backend: .reference)
    guard let input = Tensor([1.0, 2.0, 3.0], shape: [3]) else { throw Diagnostic(.other("bad shape")) }
    let r = try sm([input])
    print("softmax = \(r[0])\njacobian =\n\(r[1])")

    // MARK: 6. Load a .ir file instead, and verify its derivatives

    let here = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    let module = try Pipeline.load(path: here.appendingPathComponent("mlp.ir").path)
    let mlp = try Pipeline.function(module, named: "mlp")
    var rng = SplitMix64(seed: 1)
    var inputs: [String: Tensor] = [:]
    for p in mlp.parameters { inputs[p.name] = Tensor.random(mlp.type(of: p.value), using: &rng) }
    for check in try GradientChecker.check(mlp, inputs: inputs) {
        print("\(check.label): max relative error \(check.maxRelError) \(check.passed ? "ok" : "FAIL")")
    }

    // MARK: 7. Mistakes are diagnostics, never crashes

    do {
        let bad = FunctionBuilder("bad")
        let a = try bad.input("a", .f64, [2, 3])
        _ = try a.matmul(a)                       // [2,3] @ [2,3]
    } catch {
        print("caught: \(error)")
    }
} catch {
    FileHandle.standardError.write(Data("Tour: \(error)\n".utf8))
    exit(1)
}
