// Logistic regression (multinomial: softmax over the three species) on Fisher's iris data.
//
//   p(class | x) = softmax(x·W + b)          loss = mean cross-entropy
//
// As in the Digits example, the training step is one gradc function — loss, gradient and
// the gradient-descent update W' = W − lr·∂loss/∂W, b' = b − lr·∂loss/∂b — compiled once and
// called once per iteration on the whole training set (full-batch gradient descent).
// The four measurements are standardized with the training set's mean and deviation; the
// data are shuffled with a fixed seed and the last 20 % (30 flowers) is held out.
//
//   swift run Iris            # 300 iterations
//   swift run Iris --quick    # 60 iterations (what CI runs)
//
// Data: Fisher's iris data (Examples/data/iris.csv, see Examples/data/README.md).

import Foundation
import Grad

func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("Iris: \(message)\n".utf8))
    exit(2)
}

// MARK: - Data

let arguments = Array(CommandLine.arguments.dropFirst())
var iterations = 300
var dataPath: String?
var index = 0
while index < arguments.count {
    switch arguments[index] {
    case "--quick": iterations = 60
    case "--data":
        index += 1
        guard index < arguments.count else { fail("--data needs a path") }
        dataPath = arguments[index]
    case "--help", "-h":
        print("usage: Iris [--quick] [--data iris.csv]")
        exit(0)
    default: fail("unknown option '\(arguments[index])'")
    }
    index += 1
}

let defaultPath = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("data/iris.csv").path
let path = dataPath ?? (FileManager.default.fileExists(atPath: defaultPath) ? defaultPath : "Examples/data/iris.csv")
guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { fail("cannot read \(path) (pass --data)") }

var rows: [(features: [Double], label: Int)] = []
for (n, line) in text.split(whereSeparator: \.isNewline).enumerated().dropFirst() {   // skip the header
    let fields = line.split(separator: ",").map { Double($0) }
    guard fields.count == 5, let label = fields[4], (0...2).contains(Int(label)),
          case let measures = fields[0..<4].compactMap({ $0 }), measures.count == 4 else {
        fail("\(path):\(n + 1): expected four measurements and a class 0–2")
    }
    rows.append((measures, Int(label)))
}

var rng = SplitMix64(seed: 3)
rows.shuffle(using: &rng)
let trainCount = rows.count - rows.count / 5
let train = rows[..<trainCount]
let test = rows[trainCount...]

// Standardize with the training statistics only.
func statistics(_ part: ArraySlice<(features: [Double], label: Int)>) -> (mean: [Double], deviation: [Double]) {
    var mean = [Double](repeating: 0, count: 4)
    var variance = [Double](repeating: 0, count: 4)
    for r in part { for j in 0..<4 { mean[j] += r.features[j] / Double(part.count) } }
    for r in part { for j in 0..<4 { variance[j] += (r.features[j] - mean[j]) * (r.features[j] - mean[j]) / Double(part.count) } }
    return (mean, variance.map { $0.squareRoot() })
}
let (mu, sigma) = statistics(train)

func tensors(_ part: ArraySlice<(features: [Double], label: Int)>, _ mu: [Double], _ sigma: [Double]) -> (Tensor, Tensor) {
    var x: [Double] = []
    var y = [Double](repeating: 0, count: part.count * 3)
    for (i, r) in part.enumerated() {
        for j in 0..<4 { x.append((r.features[j] - mu[j]) / sigma[j]) }
        y[i * 3 + r.label] = 1
    }
    guard let xt = Tensor(x, shape: [part.count, 4]), let yt = Tensor(y, shape: [part.count, 3]) else {
        fail("internal: bad tensor shapes")
    }
    return (xt, yt)
}
let (xTrain, yTrain) = tensors(train, mu, sigma)
let (xTest, yTest) = tensors(test, mu, sigma)

// MARK: - Graphs

/// step(W, b, x, y, lr) -> (loss, W', b')
func buildStep(count: Int) throws -> Function {
    let fb = FunctionBuilder("step")
    let w = try fb.input("W", .f64, [4, 3])
    let b = try fb.input("b", .f64, [3])
    let x = try fb.input("x", .f64, [count, 4])
    let y = try fb.input("y", .f64, [count, 3])
    let lr = try fb.input("lr", .f64)
    let loss = try mean(softmaxCrossEntropy(x.matmul(w) + b, y))
    let g = try fb.grad(of: loss, wrt: [w, b])
    try fb.output(loss, "loss")
    try fb.output(w - lr * g[0], "W")
    try fb.output(b - lr * g[1], "b")
    return fb.function
}

/// evaluate(W, b, x, y) -> (loss, probabilities)
func buildEvaluate(count: Int) throws -> Function {
    let fb = FunctionBuilder("evaluate")
    let w = try fb.input("W", .f64, [4, 3])
    let b = try fb.input("b", .f64, [3])
    let x = try fb.input("x", .f64, [count, 4])
    let y = try fb.input("y", .f64, [count, 3])
    let z = try x.matmul(w) + b
    try fb.output(mean(softmaxCrossEntropy(z, y)), "loss")
    try fb.output(softmax(z), "probabilities")
    return fb.function
}

func compileBest(_ f: Function) throws -> Executable {
    try (try? compile(f, backend: .bytecode)) ?? compile(f, backend: .reference)
}

func accuracy(_ probabilities: Tensor, _ part: ArraySlice<(features: [Double], label: Int)>) -> Double {
    let p = probabilities.doubles
    var correct = 0
    for (i, r) in part.enumerated() {
        let row = Array(p[(i * 3)..<(i * 3 + 3)])
        let predicted = row.indices.max { row[$0] < row[$1] } ?? 0
        if predicted == r.label { correct += 1 }
    }
    return Double(correct) / Double(part.count)
}

// MARK: - Training

do {
    let step = try compileBest(buildStep(count: train.count))
    let evalTrain = try compileBest(buildEvaluate(count: train.count))
    let evalTest = try compileBest(buildEvaluate(count: test.count))
    print("iris: \(train.count) training flowers, \(test.count) held out; backend \(step.backend.rawValue)")

    var w = Tensor(TensorType(.f64, [4, 3]), doubles: [0])
    var b = Tensor(TensorType(.f64, [3]), doubles: [0])
    let lr = Tensor(0.5)
    for it in 1...iterations {
        let out = try step([w, b, xTrain, yTrain, lr])
        w = out[1]
        b = out[2]
        if it == 1 || it % (iterations / 6) == 0 || it == iterations {
            let tr = try evalTrain([w, b, xTrain, yTrain])
            let te = try evalTest([w, b, xTest, yTest])
            print(String(format: "iteration %4d  loss %.4f  train %5.1f %%  held-out loss %.4f  held-out %5.1f %%",
                         it, out[0].scalar ?? .nan, 100 * accuracy(tr[1], train),
                         te[0].scalar ?? .nan, 100 * accuracy(te[1], test)))
        }
    }
    print("weights W (standardized sepal length, sepal width, petal length, petal width × setosa, versicolor, virginica):")
    print(w)
    print("bias b: \(b)")
    let te = try evalTest([w, b, xTest, yTest])
    print(String(format: "held-out accuracy: %.1f %%", 100 * accuracy(te[1], test)))
} catch {
    fail("\(error)")
}
