import Foundation
import Grad
import TestSupport
import XCTest

/// The Swift library says what the `.ir` language says: a spelling for every op, the same
/// types and nodes for the same expression, unambiguous `Tensor` literals, and errors that
/// name a wrong input.
final class LibraryParityTests: XCTestCase {
    /// Operands every spelling below builds from.
    struct Operands {
        let fb = FunctionBuilder("f")
        let x: Value      // f64[2,3]
        let y: Value      // f64[2,3]
        let v: Value      // f64[3]
        let c: Value      // bool[2,3]
        let labels: Value // i64[2]

        init() throws {
            x = try fb.input("x", .f64, [2, 3])
            y = try fb.input("y", .f64, [2, 3])
            v = try fb.input("v", .f64, [3])
            c = try fb.input("c", .bool, [2, 3])
            labels = try fb.input("labels", .i64, [2])
        }
    }

    /// How the library spells each op (as docs/library.md lists it), and a use of it.
    static let spellings: [Op: (spelling: String, build: @Sendable (Operands) throws -> Value)] = [
        .input: ("fb.input(name, dtype, shape)", { o in try o.fb.input("w", .f64, [3]) }),
        .const: ("fb.constant(value, dtype, shape)", { o in try o.fb.constant(values: [1, 2, 3], .f64, [3]) }),
        .neg: ("-x", { o in try -o.x }),
        .abs: ("abs(x)", { o in try abs(o.x) }),
        .sign: ("sign(x)", { o in try sign(o.x) }),
        .exp: ("exp(x)", { o in try exp(o.x) }),
        .log: ("log(x)", { o in try log(o.x) }),
        .log1p: ("log1p(x)", { o in try log1p(o.x) }),
        .expm1: ("expm1(x)", { o in try expm1(o.x) }),
        .sqrt: ("sqrt(x)", { o in try sqrt(o.x) }),
        .rsqrt: ("rsqrt(x)", { o in try rsqrt(o.x) }),
        .square: ("square(x)", { o in try square(o.x) }),
        .reciprocal: ("reciprocal(x)", { o in try reciprocal(o.x) }),
        .sin: ("sin(x)", { o in try sin(o.x) }),
        .cos: ("cos(x)", { o in try cos(o.x) }),
        .tan: ("tan(x)", { o in try tan(o.x) }),
        .tanh: ("tanh(x)", { o in try tanh(o.x) }),
        .sigmoid: ("sigmoid(x)", { o in try sigmoid(o.x) }),
        .relu: ("relu(x)", { o in try relu(o.x) }),
        .softplus: ("softplus(x)", { o in try softplus(o.x) }),
        .erf: ("erf(x)", { o in try erf(o.x) }),
.lgamma: ("lgamma(x)", { o in try lgamma(o.x) }),
        .digamma: ("digamma(x)", { o in try digamma(o.x) }),
        .erfc: ("erfc(x)", { o in try erfc(o.x) }),
        .log_sigmoid: ("logSigmoid(x)", { o in try logSigmoid(o.x) }),
        .polygamma: ("polygamma(n, x)", { o in try polygamma(1, o.x) }),
        .logaddexp: ("logaddexp(a, b)", { o in try logaddexp(o.x, o.y) }),
        .xlogy: ("xlogy(x, y)", { o in try xlogy(o.x, o.y) }),
                .floor: ("floor(x)", { o in try floor(o.x) }),
        .ceil: ("ceil(x)", { o in try ceil(o.x) }),
        .add: ("a + b", { o in try o.x + o.v }),
        .sub: ("a - b", { o in try o.x - 1 }),
        .mul: ("a * b", { o in try 2 * o.x }),
        .div: ("a / b", { o in try o.x / o.y }),
        .pow: ("pow(a, b)", { o in try pow(o.x, 3) }),
        .maximum: ("maximum(a, b)", { o in try maximum(o.x, 0) }),
        .minimum: ("minimum(a, b)", { o in try minimum(o.x, o.v) }),
        .atan2: ("atan2(a, b)", { o in try atan2(o.x, o.y) }),
        .zmul: ("zmul(a, b)", { o in try zmul(o.x, o.y) }),
        .zdiv: ("zdiv(a, b)", { o in try zdiv(o.x, o.y) }),
        .floordiv: ("floordiv(a, b)", { o in try floordiv(o.labels, 3) }),
        .mod: ("mod(a, b)", { o in try mod(o.x, o.y) }),
        .eq: ("a .== b", { o in try o.x .== o.y }),
        .ne: ("a .!= b", { o in try o.x .!= 0 }),
        .lt: ("a .< b", { o in try lt(o.x, o.v) }),
        .le: ("a .<= b", { o in try o.x .<= o.y }),
        .gt: ("a .> b", { o in try o.x .> 0 }),
        .ge: ("a .>= b", { o in try ge(o.x, o.y) }),
        .select: ("select(c, a, b)", { o in try select(o.c, o.x, 0) }),
        .sum: ("sum(x, axes:keepdims:)", { o in try sum(o.x, axes: [1]) }),
        .mean: ("mean(x, axes:keepdims:)", { o in try mean(o.x) }),
        .max: ("max(x, axes:keepdims:)", { o in try max(o.x, axes: [0], keepdims: true) }),
        .min: ("min(x, axes:keepdims:)", { o in try min(o.x) }),
        .prod: ("prod(x, axes:keepdims:)", { o in try prod(o.x, axes: [-1]) }),
        .logsumexp: ("logsumexp(x, axes:keepdims:)", { o in try logsumexp(o.x, axes: [1]) }),
        .argmax: ("argmax(x, axes:keepdims:)", { o in try argmax(o.x, axes: [1]) }),
        .argmin: ("argmin(x, axes:keepdims:)", { o in try argmin(o.x) }),
        .matmul: ("a.matmul(b)", { o in try o.x.matmul(o.v) }),
        .transpose: ("transpose(x, perm:)", { o in try o.x.transposed() }),
        .dot: ("dot(a, b)", { o in try dot(o.v, o.v) }),
        .reshape: ("reshape(x, shape)", { o in try o.x.reshaped([3, -1]) }),
        .broadcast_to: ("broadcast(x, to:)", { o in try o.v.broadcast(to: [4, 3]) }),
        .slice: ("x.sliced(axis:_:_:step:)", { o in try o.x.sliced(axis: 1, 1, nil) }),
        .pad: ("pad(x, low:high:step:)", { o in try pad(o.v, low: [1], high: [2]) }),
        .concat: ("concat(values, axis:)", { o in try concat([o.x, o.y], axis: -1) }),
        .expand_dims: ("expandDims(x, axis:)", { o in try expandDims(o.v, axis: -1) }),
        .squeeze: ("squeeze(x, axes:)", { o in try squeeze(expandDims(o.v, axis: 0)) }),
        .cumsum: ("cumsum(x, axis:reverse:)", { o in try cumsum(o.x, axis: 1, reverse: true) }),
        .one_hot: ("oneHot(labels, depth:dtype:)", { o in try oneHot(o.labels, depth: 3) }),
        .cast: ("cast(x, dtype)", { o in try o.x.cast(.f32) }),
        .take: ("take(x, indices, axis:)", { o in try take(o.x, o.labels, axis: 1) }),
        .take_along_axis: ("takeAlongAxis(x, indices, axis:)", { o in try takeAlongAxis(o.x, argmax(o.x, axes: [1], keepdims: true), axis: 1) }),
        .scatter_add: ("scatterAdd(base, indices, updates, axis:)", { o in try scatterAdd(o.v, o.labels, take(o.v, o.labels, axis: 0), axis: 0) }),
        .scatter_add_along_axis: ("scatterAddAlongAxis(base, indices, updates, axis:)", { o in
            let k = try argmin(o.x, axes: [0], keepdims: true)
            return try scatterAddAlongAxis(o.x, k, takeAlongAxis(o.y, k, axis: 0), axis: 0)
        }),
        .iota: ("fb.iota(shape:axis:dtype:)", { o in try o.fb.iota(shape: [2, 3], axis: 1, dtype: .f32) }),
        .cholesky: ("cholesky(x)", { o in try cholesky(o.x.matmul(o.x.transposed())) }),
        .triangular_solve: ("triangularSolve(l, b, lower:transpose:)", { o in try triangularSolve(cholesky(o.x.matmul(o.x.transposed())), o.x, transpose: true) }),
        .solve: ("solve(a, b)", { o in try solve(o.x.matmul(o.x.transposed()), o.x) }),
        .det: ("det(x)", { o in try det(o.x.matmul(o.x.transposed())) }),
        .logabsdet: ("logabsdet(x)", { o in try logabsdet(o.x.matmul(o.x.transposed())) }),
        .det_sign: ("detSign(x)", { o in try detSign(o.x.matmul(o.x.transposed())) }),
        .logdet: ("logdet(x)", { o in try logdet(o.x.matmul(o.x.transposed())) }),
        .softmax: ("softmax(x, axis:)", { o in try softmax(o.x) }),
        .log_softmax: ("logSoftmax(x, axis:)", { o in try logSoftmax(o.x, axis: 0) }),
        .softmax_cross_entropy: ("softmaxCrossEntropy(logits, labels, axis:)", { o in try softmaxCrossEntropy(o.x, o.y) }),
        .conv2d: ("conv2d(x, w, stride:padding:dilation:)", { o in
            try conv2d(o.x.reshaped([1, 1, 2, 3]), o.y.reshaped([1, 1, 2, 3]), padding: [1, 0])
        }),
        .conv2d_input_grad: ("conv2dInputGrad(g, w, inputSize:stride:padding:dilation:)", { o in
            try conv2dInputGrad(o.x.reshaped([1, 1, 2, 3]), o.y.reshaped([1, 1, 2, 3]), inputSize: [3, 5])
        }),
        .conv2d_kernel_grad: ("conv2dKernelGrad(x, g, kernelSize:stride:padding:dilation:)", { o in
            try conv2dKernelGrad(o.x.reshaped([1, 1, 2, 3]), o.y.reshaped([1, 3, 1, 2]), kernelSize: [2, 2])
        }),
        .max_pool2d: ("maxPool2d(x, window:stride:padding:)", { o in
            try maxPool2d(o.x.reshaped([1, 1, 2, 3]), window: [2, 2], stride: [1, 1], padding: [1, 0])
        }),
        .max_pool2d_grad: ("maxPool2dGrad(x, g, window:stride:padding:)", { o in
            try maxPool2dGrad(o.x.reshaped([1, 1, 2, 3]), o.v.reshaped([1, 1, 1, 3]), window: [2, 1], stride: [1, 1])
        }),
        .max_pool2d_tangent: ("maxPool2dTangent(x, v, window:stride:padding:)", { o in
            try maxPool2dTangent(o.x.reshaped([1, 1, 2, 3]), o.y.reshaped([1, 1, 2, 3]), window: [2, 2], stride: [1, 1])
        }),
        .avg_pool2d: ("avgPool2d(x, window:stride:padding:)", { o in try avgPool2d(o.x.reshaped([1, 2, 1, 3]), window: [1, 2], stride: [1, 1]) }),
        .avg_pool2d_grad: ("avgPool2dGrad(g, inputSize:window:stride:padding:)", { o in
            try avgPool2dGrad(o.x.reshaped([1, 1, 2, 3]), inputSize: [3, 4], window: [2, 2], stride: [1, 1])
        }),
        .grad: ("fb.grad(of:wrt:)", { o in try o.fb.grad(of: sum(o.x), wrt: [o.x])[0] }),
        .jacobian: ("fb.jacobian(of:wrt:mode:sparse:)", { o in try o.fb.jacobian(of: o.x, wrt: o.v) }),
        .hessian: ("fb.hessian(of:wrt:sparse:)", { o in try o.fb.hessian(of: sum(o.v), wrt: o.v) }),
        .jvp: ("fb.jvp(of:wrt:along:)", { o in try o.fb.jvp(of: o.x, wrt: [o.v], along: [o.v]) }),
        .hvp: ("fb.hvp(of:wrt:along:)", { o in try o.fb.hvp(of: sum(o.v * o.v), wrt: o.v, along: o.v) }),
        .scan: ("fb.scan(body, carry:over:with:length:reverse:indexed:)", { o in try o.fb.scan(LibraryParityTests.cell(), carry: [o.v], over: [o.x])[0] }),
        .result: ("fb.scan(body, carry:over:with:length:reverse:indexed:)", { o in try o.fb.scan(LibraryParityTests.cell(), carry: [o.v], over: [o.x])[1] }),
    ]

    /// A loop body for the `scan` spellings: c' = c·x, and c as a per-step output.
    static func cell() throws -> Function {
        try XCTUnwrap(parseModule("func cell(c: f64[3], x: f64[3]) {\n  return c * x, c\n}\n").functions.first)
    }

    /// Every op of the table has a library spelling that builds a node of that op, and
    /// docs/library.md lists it (a row `| \`op\` | \`spelling\`…`). A new op fails here until
    /// it has both.
    func testEveryOpHasALibrarySpelling() throws {
        let doc = try repositoryFile("docs/library.md")
        for op in Op.allCases {
            guard let (spelling, build) = Self.spellings[op] else {
                XCTFail("Op.\(op) has no library spelling: add a function to Sources/Grad/Value+Ops.swift, a row to docs/library.md and an entry here")
                continue
            }
            let o = try Operands()
            let before = o.fb.function.nodes.count
            let value = try build(o)
            XCTAssertTrue(o.fb.function.nodes[before...].contains { $0.op == op }, "\(spelling) builds no \(op.name) node")
            XCTAssertEqual(o.fb.function.type(of: value.id), value.type)
            XCTAssertTrue(doc.contains("| `\(op.name)` | `\(spelling)`"), "docs/library.md does not list \(op.name) as `\(spelling)`")
        }
    }

    /// The same expression in Swift and in `.ir` text gives the same graph (printed
    /// canonically): 1-D matmul on either side, broadcasting, literals taking the other
    /// operand's dtype, `^ 2` as `square`, reshape with -1.
    func testLibraryBuildsWhatTheLanguageParses() throws {
        let header = "func f(x: f32[2,3], v: f32[3], m: f32[3,4], b: f32[4]) {\n"
        let cases: [(String, (Value, Value, Value, Value) throws -> Value)] = [
            ("x @ v", { x, v, _, _ in try x.matmul(v) }),
            ("v @ m", { _, v, m, _ in try v.matmul(m) }),
            ("v @ v", { _, v, _, _ in try matmul(v, v) }),
            ("matmul(x, m) + b", { x, _, m, b in try matmul(x, m) + b }),
            ("x * 2 - v", { x, v, _, _ in try x * 2 - v }),
            ("(x + 1) ^ 2", { x, _, _, _ in try (x + 1).pow(2) }),
            ("pow(x, 2.5)", { x, _, _, _ in try pow(x, 2.5) }),
            ("reshape(x, shape=[-1])", { x, _, _, _ in try x.reshaped([-1]) }),
            ("select(x > 0, x, 0)", { x, _, _, _ in try select(x .> 0, x, 0) }),
            ("maximum(softplus(x), 0.5)", { x, _, _, _ in try maximum(softplus(x), 0.5) }),
            ("sum(x, axes=[-1], keepdims=true)", { x, _, _, _ in try sum(x, axes: [-1], keepdims: true) }),
            ("expand_dims(v, axis=-1)", { _, v, _, _ in try expandDims(v, axis: -1) }),
        ]
        for (text, build) in cases {
            let parsed = try Pipeline.function(Pipeline.parse(header + "  return \(text)\n}\n"), named: "f")
            let fb = FunctionBuilder("f")
            let x = try fb.input("x", .f32, [2, 3])
            let v = try fb.input("v", .f32, [3])
            let m = try fb.input("m", .f32, [3, 4])
            let b = try fb.input("b", .f32, [4])
            try fb.output(build(x, v, m, b))
            XCTAssertEqual(printFunction(fb.function), printFunction(parsed), text)
        }
    }

    /// `fb.whileLoop` builds the graph `while(…)` parses.
    func testWhileLoopBuildsWhatTheLanguageParses() throws {
        let parts = "func far(x: f64, a: f64) {\n  return abs(x * x - a) > 1e-12\n}\nfunc newton(x: f64, a: f64) {\n  return 0.5 * (x + a / x)\n}\n"
        let m = try Pipeline.parse(parts + "func f(a: f64) {\n  r = while(far, newton, carry=a, with=a, max_iterations=9)\n  return r\n}\n")
        let fb = FunctionBuilder("f")
        let a = try fb.input("a", .f64, [])
        let r = try fb.whileLoop(m.functions[0], m.functions[1], carry: [a], with: [a], maxIterations: 9)
        try fb.output(r[0], "r")
        XCTAssertEqual(printFunction(fb.function), printFunction(try Pipeline.function(m, named: "f")))
        XCTAssertEqual(try compile(fb.function, backend: .reference)([Tensor(2.0)])[0].doubles[0], 2.0.squareRoot(), accuracy: 4e-16)
    }

    /// `x.matmul(w)` with a 1-D `w` is a matrix–vector product, as `x @ w` is (it was refused).
    func testMatmulWithAVector() throws {
        let fb = FunctionBuilder("mv")
        let x = try fb.input("x", .f64, [2, 3])
        let w = try fb.input("w", .f64, [3])
        let y = try x.matmul(w)
        XCTAssertEqual(y.type, TensorType(.f64, [2]))
        try fb.output(y, "y")
        let exe = try compile(fb.function, backend: .reference)
        let out = try exe(["x": XCTUnwrap(Tensor([1, 2, 3, 4, 5, 6], shape: [2, 3])), "w": XCTUnwrap(Tensor([1, 0, -1], shape: [3]))])
        XCTAssertEqual(out[0].doubles, [-2, -2])
    }

    /// Literals give f64 tensors without a type annotation (they were ambiguous between
    /// `[Double]` and `[Float]`); labels pick every other dtype.
    func testTensorInitializersAreUnambiguous() throws {
        XCTAssertEqual(Tensor([0, 0, 0, 0], shape: [4])?.type, TensorType(.f64, [4]))
        XCTAssertEqual(Tensor([1.5, 2], shape: [2])?.dtype, .f64)
        let floats: [Float] = [1, 2]
        XCTAssertEqual(Tensor(floats, shape: [2])?.dtype, .f32)
        XCTAssertEqual(Tensor(f32: [1, 2, 3], shape: [3])?.storage, .f32([1, 2, 3]))
        XCTAssertEqual(Tensor(f64: [1, 2, 3], shape: [3, 1])?.type, TensorType(.f64, [3, 1]))
        XCTAssertEqual(Tensor(i64: [1, -2], shape: [2])?.storage, .i64([1, -2]))
        XCTAssertEqual(Tensor(bool: [true, false], shape: [2])?.storage, .bool([true, false]))
        XCTAssertNil(Tensor([1, 2, 3], shape: [2]))
        XCTAssertNil(Tensor(i64: [1], shape: [2, 2]))
        XCTAssertEqual(Tensor(4).type, TensorType(.f64))
        XCTAssertEqual(Tensor(f32: 1.5).storage, .f32([1.5]))
        XCTAssertEqual(Tensor(i64: 7).storage, .i64([7]))
        XCTAssertEqual(Tensor(bool: true).storage, .bool([true]))
        XCTAssertEqual(Tensor(f64: 2).storage, .f64([2]))
    }

    /// A name the function does not have is reported as unknown, with the names it has (it
    /// was reported as the first parameter missing).
    func testWrongInputNameIsNamed() throws {
        let fb = FunctionBuilder("f")
        let weights = try fb.input("weights", .f64)
        let x = try fb.input("x", .f64)
        try fb.output(weights * x)
        let exe = try compile(fb.function, backend: .reference)
        XCTAssertThrowsError(try exe(["y": Tensor(1), "x": Tensor(2)])) { error in
            let d = error as? Diagnostic
            XCTAssertEqual(d?.kind, .unknownInput("y", expected: ["weights", "x"]))
            XCTAssertEqual(d?.description, "error: unknown input 'y': the inputs are 'weights', 'x'")
        }
        XCTAssertThrowsError(try exe(["weight": Tensor(1), "x": Tensor(2)])) { error in
            XCTAssertEqual((error as? Diagnostic)?.description,
                           "error: unknown input 'weight': the inputs are 'weights', 'x'\nhint: did you mean 'weights'?")
        }
        XCTAssertThrowsError(try exe(["x": Tensor(2)])) { error in
            XCTAssertEqual((error as? Diagnostic)?.kind, .missingInput("weights"))
        }
        XCTAssertEqual(try exe(["weights": Tensor(3), "x": Tensor(2)])[0].doubles, [6])
    }
}
