// Train a classifier on handwritten digits with gradc.
//
//   Linear(64 → 64) → ReLU → Linear(64 → 10) → softmax cross-entropy
//
// The whole training step — forward pass, backward pass (`grad`) and the SGD-with-momentum
// update — is ONE gradc function, built with the Swift API and compiled once:
//
//   step(w1, b1, w2, b2, v_w1, v_b1, v_w2, v_b2, x, y, lr)
//     -> (loss, w1', b1', w2', b2', v_w1', v_b1', v_w2', v_b2')
//
//   v' = μ·v + ∂loss/∂w        w' = w − lr·v'          (μ = 0.9)
//
// It is called once per mini-batch. The data (Examples/data/digits.csv, 1,797 images of
// 8×8 grey levels 0–16, then the label) is shuffled with a fixed seed; the last 20 % is held
// out and only used to measure accuracy. Progress is printed per epoch and the loss and
// accuracy curves are written as an SVG plot (no dependencies).
//
//   swift run -c release Digits                 # 30 epochs, prints the held-out accuracy
//   swift run Digits --quick                     # 1 epoch (what CI runs)
//   swift run Digits --epochs 10 --svg curves.svg --data path/to/digits.csv
//   swift run -c release Digits --cnn           # a small convolutional network instead:
//     conv2d 3×3 (1 → 32) → ReLU → conv2d 3×3 stride 2 (32 → 64) → ReLU → Linear(1024 → 10)
//
// Data: UCI "Optical Recognition of Handwritten Digits" test set (E. Alpaydin, C. Kaynak;
// CC BY 4.0), as distributed with scikit-learn. See Examples/data/README.md.

import Foundation
import Grad

// MARK: - Command line

struct Settings {
    var epochs = 30
    var quick = false
    var svgPath = "digits-training.svg"
    var dataPath: String?
    var seed: UInt64 = 7
    var hidden = 64
    var batch = 32
    var learningRate = 0.05
    var momentum = 0.9
    var backend: Backend?
    /// The convolutional network instead of the MLP.
    var cnn = false
}

func parseSettings(_ args: [String]) -> Settings {
    var s = Settings()
    var i = 0
    func value() -> String {
        i += 1
        guard i < args.count else { fail("\(args[i - 1]) needs a value") }
        return args[i]
    }
    while i < args.count {
        switch args[i] {
        case "--quick":
            s.quick = true
            s.epochs = 1
        case "--epochs":
            guard let n = Int(value()), n > 0 else { fail("--epochs needs a positive integer") }
            s.epochs = n
        case "--cnn": s.cnn = true
        case "--svg": s.svgPath = value()
        case "--data": s.dataPath = value()
        case "--seed":
            guard let n = UInt64(value()) else { fail("--seed needs a non-negative integer") }
            s.seed = n
        case "--backend":
            guard let b = Backend(rawValue: value()) else { fail("--backend is reference, bytecode or c") }
            s.backend = b
        case "--help", "-h":
            print("usage: Digits [--quick] [--epochs N] [--svg FILE] [--data digits.csv] [--seed N] [--backend reference|bytecode|c] [--cnn]")
            exit(0)
        default:
            fail("unknown option '\(args[i])' (try --help)")
        }
        i += 1
    }
    return s
}

func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("Digits: \(message)\n".utf8))
    exit(2)
}

// MARK: - Data

struct Dataset {
    /// Row-major [count, 64] features scaled to [0, 1].
    var features: [Double]
    var labels: [Int]
    var count: Int { labels.count }
}

/// Finds the data file: `--data`, else next to this source file, else relative to the working directory.
func locateData(_ explicit: String?) -> String {
    if let explicit { return explicit }
    let here = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    let candidates = [here.appendingPathComponent("data/digits.csv").path, "Examples/data/digits.csv"]
    return candidates.first { FileManager.default.fileExists(atPath: $0) } ?? candidates[1]
}

func loadDigits(_ path: String) -> Dataset {
    guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
        fail("cannot read \(path) (pass --data path/to/digits.csv)")
    }
    var features: [Double] = []
    var labels: [Int] = []
    for (n, line) in text.split(whereSeparator: \.isNewline).enumerated() {
        let fields = line.split(separator: ",")
        guard fields.count == 65, let label = Int(fields[64]), (0..<10).contains(label) else {
            fail("\(path):\(n + 1): expected 64 pixel values and a label 0–9")
        }
        for f in fields[0..<64] {
            guard let v = Double(f) else { fail("\(path):\(n + 1): '\(f)' is not a number") }
            features.append(v / 16)
        }
        labels.append(label)
    }
    return Dataset(features: features, labels: labels)
}

/// Deterministic split: a seeded shuffle, then the last 20 % held out.
func split(_ data: Dataset, seed: UInt64) -> (train: Dataset, test: Dataset) {
    var rng = SplitMix64(seed: seed)
    let order = Array(0..<data.count).shuffled(using: &rng)
    let trainCount = data.count - data.count / 5
    func subset(_ idx: ArraySlice<Int>) -> Dataset {
        var f: [Double] = []
        f.reserveCapacity(idx.count * 64)
        for i in idx { f += data.features[(i * 64)..<(i * 64 + 64)] }
        return Dataset(features: f, labels: idx.map { data.labels[$0] })
    }
    return (subset(order[..<trainCount]), subset(order[trainCount...]))
}

func oneHot(_ labels: [Int]) -> [Double] {
    var y = [Double](repeating: 0, count: labels.count * 10)
    for (i, l) in labels.enumerated() { y[i * 10 + l] = 1 }
    return y
}

func tensor(_ values: [Double], _ shape: [Int]) -> Tensor {
    guard let t = Tensor(values, shape: shape) else { fail("internal: \(values.count) values do not fill \(shape)") }
    return t
}

// MARK: - The graphs

/// The network's logits for a batch of `n` images: the MLP (64 → hidden → 10), or with
/// `--cnn` two 3×3 convolutions (1 → 32 channels at 8×8, then 32 → 64 at stride 2, 4×4;
/// NCHW images, OIHW kernels) and a linear layer.
func logits(_ x: Value, _ p: [Value]) throws -> Value {
    guard settings.cnn else {
        let h = try relu(x.matmul(p[0]) + p[1])
        return try h.matmul(p[2]) + p[3]
    }
    let n = x.shape[0]
    let images = try x.reshaped([n, 1, 8, 8])
    let h1 = try relu(conv2d(images, p[0], padding: [1, 1]) + p[1].reshaped([1, 32, 1, 1]))
    let h2 = try relu(conv2d(h1, p[2], stride: [2, 2], padding: [1, 1]) + p[3].reshaped([1, 64, 1, 1]))
    return try h2.reshaped([n, 64 * 4 * 4]).matmul(p[4]) + p[5]
}

func parameterShapes(hidden: Int) -> [(String, [Int])] {
    if settings.cnn {
        return [("w1", [32, 1, 3, 3]), ("b1", [32]), ("w2", [64, 32, 3, 3]), ("b2", [64]), ("w3", [1024, 10]), ("b3", [10])]
    }
    return [("w1", [64, hidden]), ("b1", [hidden]), ("w2", [hidden, 10]), ("b2", [10])]
}

/// step(params…, velocities…, x, y, lr) -> (loss, new params…, new velocities…)
func buildStep(_ s: Settings) throws -> Function {
    let fb = FunctionBuilder("step")
    let shapes = parameterShapes(hidden: s.hidden)
    var params: [Value] = []
    var velocities: [Value] = []
    for (name, shape) in shapes { params.append(try fb.input(name, .f64, shape)) }
    for (name, shape) in shapes { velocities.append(try fb.input("v_" + name, .f64, shape)) }
    let x = try fb.input("x", .f64, [s.batch, 64])
    let y = try fb.input("y", .f64, [s.batch, 10])
    let lr = try fb.input("lr", .f64)

    var loss = try mean(softmaxCrossEntropy(logits(x, params), y))
    if s.cnn {
        // Weight decay on the kernels and the linear layer: the CNN fits the training set
        // exactly within a few epochs, and this keeps it from overfitting the 1,438 images.
        for (p, (name, _)) in zip(params, shapes) where name.hasPrefix("w") {
            loss = try loss + 5e-4 * sum(p * p)
        }
    }
    let grads = try fb.grad(of: loss, wrt: params)
    try fb.output(loss, "loss")
    var newVelocities: [Value] = []
    for (v, g) in zip(velocities, grads) {
        newVelocities.append(try s.momentum * v + g)       // v' = μ·v + g
    }
    for ((p, v), (name, _)) in zip(zip(params, newVelocities), shapes) {
        try fb.output(p - lr * v, name)                   // w' = w − lr·v'
    }
    for (v, (name, _)) in zip(newVelocities, shapes) {
        try fb.output(v, "v_" + name)
    }
    return fb.function
}

/// predict(params…, x[n, 64]) -> logits[n, 10]
func buildPredict(_ s: Settings, count: Int) throws -> Function {
    let fb = FunctionBuilder("predict")
    var params: [Value] = []
    for (name, shape) in parameterShapes(hidden: s.hidden) { params.append(try fb.input(name, .f64, shape)) }
    let x = try fb.input("x", .f64, [count, 64])
    try fb.output(logits(x, params), "logits")
    return fb.function
}

/// Compiles for the requested backend; without one, the fastest available (the VM, else the reference evaluator).
func compileForBackend(_ f: Function, _ backend: Backend?) throws -> Executable {
    if let backend { return try compile(f, backend: backend) }
    if let vm = try? compile(f, backend: .bytecode) { return vm }
    return try compile(f, backend: .reference)
}

func accuracy(_ predict: Executable, _ params: [Tensor], _ data: Dataset) throws -> Double {
    let out = try predict(params + [tensor(data.features, [data.count, 64])])
    let z = out[0].doubles
    var correct = 0
    for i in 0..<data.count {
        let row = z[(i * 10)..<(i * 10 + 10)]
        var best = row.startIndex
        for j in row.indices where row[j] > row[best] { best = j }
        if best - i * 10 == data.labels[i] { correct += 1 }
    }
    return Double(correct) / Double(data.count)
}

// MARK: - SVG plot

/// One panel: axes, ticks, and a polyline per series, all hand-written SVG.
func panel(x0: Double, title: String, series: [(String, String, [Double])], yMax: Double, yLabel: (Double) -> String) -> String {
    let (w, h, left, top) = (380.0, 260.0, 55.0, 52.0)
    let n = series.map { $0.2.count }.max() ?? 1
    func px(_ i: Int) -> Double { x0 + left + (n > 1 ? Double(i) / Double(n - 1) : 0) * (w - left - 15) }
    func py(_ v: Double) -> Double { top + (1 - min(Swift.max(v / yMax, 0), 1)) * (h - top - 35) }
    var s = "<text x=\"\(x0 + w / 2)\" y=\"22\" text-anchor=\"middle\" font-size=\"15\">\(title)</text>\n"
    let axisY = py(0)
    for k in 0...4 {   // grid lines and y ticks first, so the axes are drawn over them
        let v = yMax * Double(k) / 4
        s += "<line x1=\"\(px(0) - 4)\" y1=\"\(py(v))\" x2=\"\(x0 + w - 15)\" y2=\"\(py(v))\" stroke=\"#ddd\"/>\n"
        s += "<text x=\"\(px(0) - 7)\" y=\"\(py(v) + 4)\" text-anchor=\"end\" font-size=\"11\">\(yLabel(v))</text>\n"
    }
    s += "<line x1=\"\(px(0))\" y1=\"\(axisY)\" x2=\"\(x0 + w - 15)\" y2=\"\(axisY)\" stroke=\"black\"/>\n"
    s += "<line x1=\"\(px(0))\" y1=\"\(top)\" x2=\"\(px(0))\" y2=\"\(axisY)\" stroke=\"black\"/>\n"
    let step = Swift.max(1, n / 6)
    for i in stride(from: 0, to: n, by: step) {
        s += "<line x1=\"\(px(i))\" y1=\"\(axisY)\" x2=\"\(px(i))\" y2=\"\(axisY + 4)\" stroke=\"black\"/>\n"
        s += "<text x=\"\(px(i))\" y=\"\(axisY + 17)\" text-anchor=\"middle\" font-size=\"11\">\(i + 1)</text>\n"
    }
    s += "<text x=\"\(x0 + w / 2)\" y=\"\(h + 2)\" text-anchor=\"middle\" font-size=\"12\">epoch</text>\n"
    for (k, (name, color, values)) in series.enumerated() {
        let points = values.enumerated().map { "\(px($0.offset)),\(py($0.element))" }.joined(separator: " ")
        s += "<polyline fill=\"none\" stroke=\"\(color)\" stroke-width=\"2\" points=\"\(points)\"/>\n"
        let lx = x0 + left + 10 + 100 * Double(k)   // legend in a row between the title and the plot
        s += "<line x1=\"\(lx)\" y1=\"38\" x2=\"\(lx + 20)\" y2=\"38\" stroke=\"\(color)\" stroke-width=\"2\"/>\n"
        s += "<text x=\"\(lx + 25)\" y=\"42\" font-size=\"11\">\(name)</text>\n"
    }
    return s
}

func writeSVG(path: String, losses: [Double], train: [Double], test: [Double]) throws {
    let lossMax = (losses.max() ?? 1) * 1.1
    var svg = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"780\" height=\"275\" font-family=\"sans-serif\">\n"
    svg += "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
    svg += panel(x0: 0, title: "training loss (mean cross-entropy)", series: [("loss", "#c0392b", losses)], yMax: lossMax) {
        String(format: "%.2f", $0)
    }
    svg += panel(x0: 390, title: "accuracy", series: [("train", "#2980b9", train), ("held-out", "#27ae60", test)], yMax: 1) {
        String(format: "%.0f%%", $0 * 100)
    }
    svg += "</svg>\n"
    try svg.write(toFile: path, atomically: true, encoding: .utf8)
}

// MARK: - Training

let settings = parseSettings(Array(CommandLine.arguments.dropFirst()))
let dataPath = locateData(settings.dataPath)
let (trainSet, testSet) = split(loadDigits(dataPath), seed: settings.seed)
print("digits: \(trainSet.count) training images, \(testSet.count) held out (\(dataPath))")

let stepFunction: Function
let predictTrain: Executable
let predictTest: Executable
let step: Executable
do {
    stepFunction = try buildStep(settings)
    step = try compileForBackend(stepFunction, settings.backend)
    predictTrain = try compileForBackend(buildPredict(settings, count: trainSet.count), settings.backend)
    predictTest = try compileForBackend(buildPredict(settings, count: testSet.count), settings.backend)
} catch {
    fail("building the graphs failed: \(error)")
}
print("compiled step: \(stepFunction.nodes.count) nodes as built, \(step.function.nodes.count) after differentiation and optimization; backend \(step.backend.rawValue)")

// He-uniform initial weights, zero biases and velocities, all from one seed.
var rng = SplitMix64(seed: settings.seed)
var params: [Tensor] = parameterShapes(hidden: settings.hidden).map { name, shape in
    let count = shape.reduce(1, *)
    guard name.hasPrefix("w") else { return tensor([Double](repeating: 0, count: count), shape) }
    let fanIn = shape.count == 4 ? shape[1] * shape[2] * shape[3] : shape[0]  // OIHW kernels: C·KH·KW inputs
    let a = (6.0 / Double(fanIn)).squareRoot()
    return tensor((0..<count).map { _ in Double.random(in: -a...a, using: &rng) }, shape)
}
var velocities: [Tensor] = params.map { tensor([Double](repeating: 0, count: $0.count), $0.shape) }
let lr = Tensor(settings.learningRate)

var losses: [Double] = []
var trainAccuracy: [Double] = []
var testAccuracy: [Double] = []
let batchesPerEpoch = trainSet.count / settings.batch
let start = Date()
do {
    for epoch in 1...settings.epochs {
        let order = Array(0..<trainSet.count).shuffled(using: &rng)
        var total = 0.0
        for b in 0..<batchesPerEpoch {
            let idx = order[(b * settings.batch)..<((b + 1) * settings.batch)]
            var x: [Double] = []
            x.reserveCapacity(settings.batch * 64)
            for i in idx { x += trainSet.features[(i * 64)..<(i * 64 + 64)] }
            let y = oneHot(idx.map { trainSet.labels[$0] })
            let out = try step(params + velocities + [tensor(x, [settings.batch, 64]), tensor(y, [settings.batch, 10]), lr])
            total += out[0].scalar ?? .nan
            params = Array(out[1...params.count])
            velocities = Array(out[(params.count + 1)...(2 * params.count)])
        }
        losses.append(total / Double(batchesPerEpoch))
        trainAccuracy.append(try accuracy(predictTrain, params, trainSet))
        testAccuracy.append(try accuracy(predictTest, params, testSet))
        let line = String(format: "epoch %2d/%d  loss %.4f  train %5.1f %%  held-out %5.1f %%  (%.1f s)",
                          epoch, settings.epochs, losses[epoch - 1], 100 * trainAccuracy[epoch - 1],
                          100 * testAccuracy[epoch - 1], Date().timeIntervalSince(start))
        print(line)
    }
} catch {
    fail("training failed: \(error)")
}

do {
    try writeSVG(path: settings.svgPath, losses: losses, train: trainAccuracy, test: testAccuracy)
    print("wrote \(settings.svgPath)")
} catch {
    fail("cannot write \(settings.svgPath): \(error)")
}

let final = testAccuracy.last ?? 0
print(String(format: "held-out accuracy: %.2f %% (%d of %d images)", 100 * final, Int((final * Double(testSet.count)).rounded()), testSet.count))
if !settings.quick && final < 0.95 {
    print("below the 95 % target")
    exit(1)
}
