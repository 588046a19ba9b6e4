import Grad
import TestSupport
import XCTest

/// The worked examples of the lecture notes, reproduced exactly.
final class SeedAndMLPTests: XCTestCase {
    /// z = (x + σ(x)) / (σ(x) + (x + y)²) at x = 4, y = 3 (lecture 003).
    func testSeedGraphFromExampleFile() throws {
        let module = try parseModule(try repositoryFile("Examples/seed.ir"), file: "seed.ir")
        let f = try XCTUnwrap(module.functions.last)
        let out = try evaluate(f, ["x": Tensor(4.0), "y": Tensor(3.0)]).map { $0.scalar ?? .nan }
        let names = f.outputs.map(\.name)
        let expected: [String: Double] = [
            "z": 0.0996761317174237,
            "dzdx": -0.00759400550878355,
            "dzdy": -0.0279193601503521,
            "d2zdx2": -3.56521201690721e-5,
            "d2zdxdy": 0.00596870683326711,
        ]
        for (name, value) in expected {
            let i = try XCTUnwrap(names.firstIndex(of: name), "output \(name) missing from seed.ir")
            assertClose(out[i], value, rtol: 1e-12, name)
        }
    }

    func testSeedGraphBuiltInSwift() throws {
        let fb = FunctionBuilder("seed")
        let x = try fb.input("x", .f64)
        let y = try fb.input("y", .f64)
        let z = try (x + sigmoid(x)) / (sigmoid(x) + (x + y).pow(2))
        let g = try fb.grad(of: z, wrt: [x, y])
        let h = try fb.grad(of: g[0], wrt: [x, y])
        try fb.output(z, "z")
        try fb.output(g + h)
        let out = try evaluate(fb.function, ["x": Tensor(4.0), "y": Tensor(3.0)]).map { $0.scalar ?? .nan }
        assertAllClose(out, [0.0996761317174237, -0.00759400550878355, -0.0279193601503521,
                             -3.56521201690721e-5, 0.00596870683326711], rtol: 1e-12)
    }

    /// The MLP gradient equals the hand-derived backpropagation formulas:
    /// p = softmax(a1·W2 + b2), δ2 = (p − y)/B, dW2 = a1ᵀδ2, db2 = Σδ2,
    /// δ1 = (δ2·W2ᵀ) ⊙ [z1 > 0], dW1 = xᵀδ1, db1 = Σδ1.
    func testMLPGradientMatchesHandDerivedBackprop() throws {
        let module = try parseModule(try repositoryFile("Examples/mlp.ir"), file: "mlp.ir")
        let f = try XCTUnwrap(module.functions.last)
        var rng = SplitMix64(seed: 7)
        var inputs: [String: Tensor] = [:]
        for p in f.parameters {
            inputs[p.name] = Tensor.random(f.type(of: p.value), using: &rng)
        }
        // One-hot labels.
        let yType = f.type(of: try XCTUnwrap(f.parameters.first { $0.name == "y" }).value)
        let (batch, classes) = (yType.shape[0], yType.shape[1])
        var labels = [Double](repeating: 0, count: batch * classes)
        for i in 0..<batch { labels[i * classes + (i * 7) % classes] = 1 }
        inputs["y"] = Tensor(yType, doubles: labels)

        let out = try evaluate(f, inputs)
        let x = try XCTUnwrap(inputs["x"]).doubles, w1 = try XCTUnwrap(inputs["w1"]).doubles
        let b1 = try XCTUnwrap(inputs["b1"]).doubles, w2 = try XCTUnwrap(inputs["w2"]).doubles
        let b2 = try XCTUnwrap(inputs["b2"]).doubles
        let nIn = x.count / batch, nHidden = b1.count
        // Forward.
        var z1 = [Double](repeating: 0, count: batch * nHidden)
        for i in 0..<batch { for j in 0..<nHidden {
            var s = 0.0
            for k in 0..<nIn { s += x[i * nIn + k] * w1[k * nHidden + j] }
            z1[i * nHidden + j] = s + b1[j]
        } }
        let a1 = z1.map { Swift.max($0, 0) }
        var loss = 0.0
        var delta2 = [Double](repeating: 0, count: batch * classes)
        for i in 0..<batch {
            var logits = [Double](repeating: 0, count: classes)
            for c in 0..<classes {
                var s = 0.0
                for j in 0..<nHidden { s += a1[i * nHidden + j] * w2[j * classes + c] }
                logits[c] = s + b2[c]
            }
            let m = logits.max() ?? 0
            let e = logits.map { Foundation.exp($0 - m) }
            let total = e.reduce(0, +)
            for c in 0..<classes {
                let p = e[c] / total
                loss -= labels[i * classes + c] * Foundation.log(p) / Double(batch)
                delta2[i * classes + c] = (p - labels[i * classes + c]) / Double(batch)
            }
        }
        var dW2 = [Double](repeating: 0, count: nHidden * classes)
        var db2 = [Double](repeating: 0, count: classes)
        var delta1 = [Double](repeating: 0, count: batch * nHidden)
        for i in 0..<batch { for c in 0..<classes {
            db2[c] += delta2[i * classes + c]
            for j in 0..<nHidden {
                dW2[j * classes + c] += a1[i * nHidden + j] * delta2[i * classes + c]
                delta1[i * nHidden + j] += delta2[i * classes + c] * w2[j * classes + c]
            }
        } }
        for i in 0..<(batch * nHidden) where z1[i] <= 0 { delta1[i] = 0 }
        var dW1 = [Double](repeating: 0, count: nIn * nHidden)
        var db1 = [Double](repeating: 0, count: nHidden)
        for i in 0..<batch { for j in 0..<nHidden {
            db1[j] += delta1[i * nHidden + j]
            for k in 0..<nIn { dW1[k * nHidden + j] += x[i * nIn + k] * delta1[i * nHidden + j] }
        } }
        XCTAssertEqual(out.count, 5)
        assertClose(out[0].doubles[0], loss, rtol: 1e-12)
        assertAllClose(out[1].doubles, dW1, rtol: 1e-10, atol: 1e-15)
        assertAllClose(out[2].doubles, db1, rtol: 1e-10, atol: 1e-15)
        assertAllClose(out[3].doubles, dW2, rtol: 1e-10, atol: 1e-15)
        assertAllClose(out[4].doubles, db2, rtol: 1e-10, atol: 1e-15)
    }

    /// Parsing `Examples/mlp.ir` and building the same model in Swift give the same graph.
    func testMLPParsedEqualsBuiltInSwift() throws {
        let module = try parseModule(try repositoryFile("Examples/mlp.ir"), file: "mlp.ir")
        let parsed = try XCTUnwrap(module.functions.last)
        let fb = FunctionBuilder(parsed.name)
        var params: [String: Value] = [:]
        for p in parsed.parameters {
            let t = parsed.type(of: p.value)
            params[p.name] = try fb.input(p.name, t.dtype, t.shape)
        }
        let x = try XCTUnwrap(params["x"]), y = try XCTUnwrap(params["y"])
        let w1 = try XCTUnwrap(params["w1"]), b1 = try XCTUnwrap(params["b1"])
        let w2 = try XCTUnwrap(params["w2"]), b2 = try XCTUnwrap(params["b2"])
        let h = try relu(x.matmul(w1) + b1)
        let loss = try mean(softmaxCrossEntropy(h.matmul(w2) + b2, y))
        try fb.output(loss, "loss")
        let grads = try fb.grad(of: loss, wrt: [w1, b1, w2, b2])
        for (g, name) in zip(grads, ["dloss_dw1", "dloss_db1", "dloss_dw2", "dloss_db2"]) {
            try fb.output(g, name)
        }
        XCTAssertEqual(printFunction(fb.function), printFunction(parsed))
        XCTAssertEqual(fb.function.nodes, parsed.nodes)
    }
}
