import Foundation
import Grad
import TestSupport
import XCTest

/// The command line's rough edges of issue 20, each pinned by exit status and message.
extension CLITests {
    /// `compile --backend c` without `-o` is refused and writes nothing (it wrote model.c,
    /// model.h and model.so into the working directory).
    func testCompileCNeedsAnOutputDirectory() throws {
        let cwd = try temporaryDirectory("no-o")
        let model = repositoryRoot.appendingPathComponent("Examples/seed.ir").path
        let r = try run(["compile", model, "--backend", "c"], in: cwd)
        XCTAssertEqual(r.status, 2, r.err)
        XCTAssertTrue(r.err.contains("gradc: compile --backend c needs -o DIR, the directory to write model.c, model.h and model.so into (made if missing)"), r.err)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: cwd.path), [])
    }

    /// An output of the wrong kind is a clear usage error (it was a raw
    /// `NSCocoaErrorDomain Code=516` dump with exit 3); existing files are overwritten.
    func testOutputPathsAreCheckedAndFilesOverwritten() throws {
        let dir = try temporaryDirectory("outputs")
        let file = dir.appendingPathComponent("taken").path
        let sub = dir.appendingPathComponent("sub").path
        try Data("old".utf8).write(to: URL(fileURLWithPath: file))
        try FileManager.default.createDirectory(atPath: sub, withIntermediateDirectories: false)
        let refused: [([String], String)] = [
            (["compile", "Examples/seed.ir", "--backend", "c", "-o", file],
             "gradc: -o '\(file)' is a file, but model.c, model.h and model.so go into a directory: give a directory (it is made if missing)"),
            (["run", "Examples/seed.ir", "--output-dir", file],
             "gradc: --output-dir '\(file)' is a file, but the outputs (NAME.npy) go into a directory"),
            (["compile", "Examples/seed.ir", "-o", sub],
             "gradc: -o '\(sub)' is a directory: give a file name, such as \(sub)/model.gbc"),
        ]
        for (args, message) in refused {
            let r = try run(args)
            XCTAssertEqual(r.status, 2, "\(args): \(r.err)")
            XCTAssertTrue(r.err.contains(message), "\(args): \(r.err)")
            XCTAssertFalse(r.err.contains("NSCocoaErrorDomain"), r.err)
        }
        // A file is replaced, and so are the files in a directory.
        var r = try run(["compile", "Examples/seed.ir", "-o", file])
        XCTAssertEqual(r.status, 0, r.err)
        XCTAssertEqual(try Array(Data(contentsOf: URL(fileURLWithPath: file)).prefix(4)), Array(bytecodeMagic.prefix(4)))
        try Data("old".utf8).write(to: URL(fileURLWithPath: sub + "/model.h"))
        r = try run(["compile", "Examples/seed.ir", "--backend", "c", "-o", sub])
        XCTAssertEqual(r.status, 0, r.err)
        XCTAssertTrue(try String(contentsOfFile: sub + "/model.h", encoding: .utf8).contains("int seed("))
        // A directory that cannot be made names the reason.
        r = try run(["run", "Examples/seed.ir", "--output-dir", file + "/inside"])
        XCTAssertEqual(r.status, 2, r.err)
        XCTAssertTrue(r.err.contains("gradc: --output-dir '\(file)/inside': cannot make the directory: Not a directory\n"), r.err)
        XCTAssertFalse(r.err.contains("NSCocoaErrorDomain"), r.err)
    }

    /// `--func` naming no function is a usage error with the quote in place and the file's
    /// functions (it said `no function named 'nosuch (the file defines: seed)'`, exit 3).
    func testUnknownFunctionIsAUsageError() throws {
        for verb in [["run"], ["check"], ["emit"], ["compile"], ["compile", "--backend", "c", "-o", "/nonexistent/never"]] {
            let r = try run(verb + ["Examples/seed.ir", "--func", "sed"])
            XCTAssertEqual(r.status, 2, "\(verb): \(r.err)")
            XCTAssertTrue(r.err.hasPrefix("gradc: --func: Examples/seed.ir has no function named 'sed' (it defines 'seed')\nhint: did you mean 'seed'?\n"), "\(verb): \(r.err)")
        }
        let r = try run(["run", "Examples/seed.ir", "--func", "nosuch"])
        XCTAssertEqual(r.status, 2, r.err)
        XCTAssertTrue(r.err.hasPrefix("gradc: --func: Examples/seed.ir has no function named 'nosuch' (it defines 'seed')\nRun"), r.err)
    }

    /// `gradc check` names what is differentiated as the model does (it said `grad(%12, w1)`),
    /// also for an intermediate value, a call over several lines and several x of one call.
    func testCheckLabelsDerivativesByTheirNames() throws {
        var r = try run(["check", "Examples/mlp.ir"])
        XCTAssertEqual(r.status, 0, r.err)
        XCTAssertTrue(r.out.contains("mlp       dloss_dw1 = grad(loss, w1)  f64[64,32]"), r.out)
        XCTAssertTrue(r.out.contains("dloss_db2 = grad(loss, b2)"), r.out)
        XCTAssertFalse(r.out.contains("%"), r.out)
        let model = try temporaryFile("""
            func f(x: f64[3], w: f64[3]) {
              h = tanh(x * w)
              loss = sum(h * h)
              gh, gw = grad(loss,   # the hidden values and the weights
                            h, w)
              return gh, gw, jacobian(h, x) as J, hessian(sum(exp(w)), w)
            }
            """)
        r = try run(["check", model])
        XCTAssertEqual(r.status, 0, r.out + r.err)
        for label in ["gh = grad(loss, h)", "gw = grad(loss, w)", "J = jacobian(h, x)", "out3 = hessian(sum(exp(w)), w)"] {
            XCTAssertTrue(r.out.contains("f         \(label)"), "\(label): \(r.out)")
        }
    }

    /// A UTF-8 byte order mark at the start is skipped (it was "unexpected character"), and
    /// columns on the first line do not count it.
    func testByteOrderMarkIsAccepted() throws {
        let bom = "\u{FEFF}"
        var r = try run(["run", try temporaryFile(bom + "func f(x: f64) {\n  return x * 2\n}\n"), "--input", "x=3"])
        XCTAssertEqual(r.status, 0, r.err)
        XCTAssertEqual(r.out, "out0: f64 = 6.0\n")
        r = try run(["run", try temporaryFile(bom + "func f(x: f65) {\n  return x\n}\n")])
        XCTAssertEqual(r.status, 3)
        XCTAssertTrue(r.err.contains("model.ir:1:11: error: unknown type 'f65'"), r.err)
    }

    /// `-` and `/dev/stdin` read the model from standard input (both were "cannot read");
    /// errors name `<stdin>` and still show the line.
    func testModelFromStandardInput() throws {
        let model = try String(contentsOf: repositoryRoot.appendingPathComponent("Examples/seed.ir"), encoding: .utf8)
        for path in ["-", "/dev/stdin"] {
            let r = try run(["run", path, "--input", "x=4", "--input", "y=3"], stdin: model)
            XCTAssertEqual(r.status, 0, "\(path): \(r.err)")
            XCTAssertTrue(r.out.hasPrefix("z: f64 = 0.0996761317174237"), r.out)
        }
        var r = try run(["check", "-"], stdin: model)
        XCTAssertEqual(r.status, 0, r.err)
        r = try run(["emit", "-", "--stage", "parsed"], stdin: "func f(x: f64) {\n  return x + q\n}\n")
        XCTAssertEqual(r.status, 3)
        XCTAssertTrue(r.err.hasPrefix("<stdin>:2:14: error: use of undefined name 'q'\n  return x + q\n             ^"), r.err)
        r = try run(["compile", "-"], stdin: model)
        XCTAssertEqual(r.status, 2)
        XCTAssertTrue(r.err.contains("gradc: compile needs -o FILE for a model read from standard input"), r.err)
        let gbc = try temporaryDirectory("stdin").appendingPathComponent("seed.gbc").path
        r = try run(["compile", "-", "-o", gbc], stdin: model)
        XCTAssertEqual(r.status, 0, r.err)
        r = try run(["run", "/nonexistent.ir"])
        XCTAssertEqual(r.status, 3)
        XCTAssertTrue(r.err.contains("error: cannot read '/nonexistent.ir': no such file"), r.err)
        // A stream is read until its first NUL byte (a model's text has none): /dev/zero fails
        // at once instead of being read without end.
        r = try run(["run", "/dev/zero"])
        XCTAssertEqual(r.status, 3)
        XCTAssertTrue(r.err.hasPrefix("/dev/zero:1:1: error: unexpected NUL byte"), r.err)
    }

    /// A decimal input beyond the dtype's range is refused, naming the input, as an
    /// overflowing literal in a `.ir` file is (`1e400` silently became inf); `inf` is inf.
    func testOverflowingInputIsRefused() throws {
        let model = try temporaryFile("func f(a: f64, b: f32) {\n  return a, b\n}\n")
        let refused: [(String, String)] = [
            ("a=1e400", "input 'a' of type f64: '1e400' is beyond the range of f64 (largest finite magnitude 1.7976931348623157e+308; write inf for infinity)"),
            ("a=-1e309", "input 'a' of type f64: '-1e309' is beyond the range of f64"),
            ("b=1e39", "input 'b' of type f32: '1e39' is beyond the range of f32 (largest finite magnitude 3.4028235e+38; write inf for infinity)"),
            ("a=zz", "input 'a' of type f64: 'zz' is not a number"),
        ]
        for (spec, message) in refused {
            let r = try run(["run", model, "--input", spec])
            XCTAssertEqual(r.status, 2, "\(spec): \(r.out)")
            XCTAssertTrue(r.err.contains(message), "\(spec): \(r.err)")
        }
        let r = try run(["run", model, "--input", "a=-inf", "--input", "b=1e-50"])
        XCTAssertEqual(r.status, 0, r.err)
        XCTAssertEqual(r.out, "a: f64 = -inf\nb: f32 = 0.0\n")
    }

    /// `--version` is one line.
    func testVersionIsOneLine() throws {
        for flag in ["--version", "version"] {
            let r = try run([flag])
            XCTAssertEqual(r.status, 0)
            XCTAssertEqual(r.out, "gradc \(gradcVersion)\n")
        }
    }

    /// Unknown names get a suggestion: ops and variables by edit distance, NumPy and
    /// PyTorch spellings by a table, Python syntax (`**`, `x.T`) by what it means here;
    /// options and input names by edit distance.
    func testUnknownNamesGetSuggestions() throws {
        let cases: [(String, String)] = [
            ("where(x > 0, x, 0)", "model.ir:2:10: error: unknown op or function 'where'\n  return where(x > 0, x, 0)\n         ^\nhint: select(cond, a, b) is NumPy's where(cond, a, b)\n"),
            ("x ** 2", "hint: powers are x ^ y in gradc (Python's x ** y)\n"),
            ("x.T", "model.ir:2:11: error: unexpected character '.'\n  return x.T\n          ^\nhint: transpose(x) is NumPy's x.T"),
            ("softmx(x)", "hint: did you mean 'softmax'?\n"),
            ("x * wieght", "error: use of undefined name 'wieght'\n  return x * wieght\n             ^\nhint: did you mean 'weight'?\n"),
            ("clip(x, 0, 1)", "hint: clip(x, lo, hi) is minimum(maximum(x, lo), hi)\n"),
        ]
        for (body, expected) in cases {
            let r = try run(["run", try temporaryFile("func f(x: f64[3], weight: f64[3]) {\n  return \(body)\n}\n")])
            XCTAssertEqual(r.status, 3, body)
            XCTAssertTrue(r.err.contains(expected), "\(body): \(r.err)")
        }
        var r = try run(["run", "Examples/seed.ir", "--fnc", "seed"])
        XCTAssertEqual(r.status, 2)
        XCTAssertTrue(r.err.contains("gradc: unknown option '--fnc'\nhint: did you mean '--func'?\n"), r.err)
        r = try run(["chek", "Examples/seed.ir"])
        XCTAssertEqual(r.status, 2)
        XCTAssertTrue(r.err.contains("gradc: unknown verb 'chek'\nhint: did you mean 'check'?\n"), r.err)
        r = try run(["run", try temporaryFile("func f(x: f64, weights: f64) {\n  return x * weights\n}\n"), "--input", "weight=1"])
        XCTAssertEqual(r.status, 2)
        XCTAssertTrue(r.err.contains("gradc: function 'f' has no input 'weight' (inputs: x, weights)\nhint: did you mean 'weights'?\n"), r.err)
    }
}

extension CLITests {
    /// An error raised while differentiating names the model file in every verb.
    func testDifferentiationErrorsNameTheFile() throws {
        let model = "Tests/Fixtures/regressions/jacobian-too-large.ir"
        for verb in ["run", "emit", "check"] {
            let r = try run([verb, model])
            XCTAssertEqual(r.status, 3, verb)
            XCTAssertTrue(r.err.hasPrefix("\(model):4:10: error: the Jacobian of a f64[100000] value"), "\(verb): \(r.err)")
        }
    }
}
