import Foundation
import Grad
import TestSupport
import XCTest

/// gradc as another package's versioned dependency: a scratch package that says
/// `.package(url: "file:///…/gradc", from: "<gradcVersion>")` and `.product(name: "Grad", …)`
/// resolves the tag, builds (SwiftPM refuses unsafe build flags in a dependency resolved by
/// version) and runs a gradient and a matmul (the AVX2 kernels' C target linked in).
///
/// The dependency is a fresh git repository made from this checkout's files (tracked and
/// untracked, not ignored), committed and tagged `gradcVersion`: the test checks the sources
/// under test, whether or not the real repository has the tag yet.
///
/// It builds gradc's library a second time (about 1–3 minutes on two cores), so it runs only
/// when `GRADC_TEST_PACKAGE=1` (`.ci/run` sets it); otherwise, and without git or swift, it
/// is skipped with the reason.
final class PackageDependencyTests: XCTestCase {
    func testScratchPackageDependsOnGradcByVersion() throws {
        try XCTSkipUnless(ProcessInfo.processInfo.environment["GRADC_TEST_PACKAGE"] == "1",
                          "builds gradc again as a dependency (1–3 minutes): set GRADC_TEST_PACKAGE=1 to run it (.ci/run does)")
        guard let git = executable("git") else { throw XCTSkip("no git on PATH") }
        guard let swift = executable("swift") else { throw XCTSkip("no swift on PATH") }
        let root = repositoryRoot.path
        let listed = try runProcess(git, ["-C", root, "ls-files", "-z", "--cached", "--others", "--exclude-standard"])
        try XCTSkipUnless(listed.status == 0, "the sources are not a git checkout: \(listed.output)")

        let dir = try temporaryDirectory("package")
        let dependency = dir.appendingPathComponent("gradc")
        for relative in listed.output.split(separator: "\0").map(String.init) {
            let source = root + "/" + relative
            guard FileManager.default.fileExists(atPath: source) else { continue }  // deleted, not yet committed
            let target = dependency.appendingPathComponent(relative)
            try FileManager.default.createDirectory(at: target.deletingLastPathComponent(), withIntermediateDirectories: true)
            try FileManager.default.copyItem(atPath: source, toPath: target.path)
        }
        for args in [["init", "-q"], ["add", "-A"],
                     ["-c", "user.name=gradc test", "-c", "user.email=test@localhost", "commit", "-q", "-m", "release"],
                     ["tag", gradcVersion]] {
            let r = try runProcess(git, ["-C", dependency.path] + args)
            XCTAssertEqual(r.status, 0, "git \(args.joined(separator: " ")): \(r.output)")
        }

        let app = dir.appendingPathComponent("app")
        addTeardownBlock { Self.removeSwiftPMLocks(of: app) }
        try FileManager.default.createDirectory(at: app.appendingPathComponent("Sources/app"), withIntermediateDirectories: true)
        try """
        // swift-tools-version:6.0
        import PackageDescription

        let package = Package(
            name: "app",
            dependencies: [.package(url: "\(dependency.absoluteString)", from: "\(gradcVersion)")],
            targets: [.executableTarget(name: "app", dependencies: [.product(name: "Grad", package: "gradc")])]
        )

        """.write(to: app.appendingPathComponent("Package.swift"), atomically: true, encoding: .utf8)
        try Self.appSource.write(to: app.appendingPathComponent("Sources/app/main.swift"), atomically: true, encoding: .utf8)

        // The scratch package's SwiftPM caches stay in the temporary directory too.
        let build = try runProcess(swift, ["build", "--package-path", app.path, "--disable-dependency-cache",
                                           "--cache-path", dir.appendingPathComponent("cache").path,
                                           "--manifest-cache", "local"])
        XCTAssertEqual(build.status, 0, "swift build of the scratch package failed:\n\(build.output.suffix(4000))")
        let resolved = try String(contentsOf: app.appendingPathComponent("Package.resolved"), encoding: .utf8)
        XCTAssertTrue(resolved.contains("\"version\" : \"\(gradcVersion)\""), "resolved by version:\n\(resolved)")

        let ran = try runProcess(app.appendingPathComponent(".build/debug/app").path, [])
        XCTAssertEqual(ran.status, 0, ran.output)
        let printed = ran.output.split(separator: "\n").compactMap { Double($0) }
        XCTAssertEqual(printed, try Self.expected(), ran.output)
    }

    /// The scratch package's program: the seed example's gradient at (4, 3), then the sum of
    /// a 7 × 9 · 9 × 10 product (VM, so the matmul micro-kernels run).
    static let appSource = """
        import Grad

        let fb = FunctionBuilder("seed")
        let x = try fb.input("x", .f64)
        let y = try fb.input("y", .f64)
        let z = try (x + sigmoid(x)) / (sigmoid(x) + (x + y).pow(2))
        try fb.output(z, "z")
        for g in try fb.grad(of: z, wrt: [x, y]) { try fb.output(g) }
        let seed = try compile(fb.function, backend: .bytecode)
        for t in try seed(["x": Tensor(4.0), "y": Tensor(3.0)]) { print(t.doubles[0]) }

        let mm = FunctionBuilder("mm")
        let a = try mm.input("a", .f64, [7, 9])
        let b = try mm.input("b", .f64, [9, 10])
        try mm.output(sum(a.matmul(b)))
        let av = (0..<63).map { Double($0 % 5) - 2 }
        let bv = (0..<90).map { Double($0 % 7) * 0.5 }
        let product = try compile(mm.function, backend: .bytecode)
        if let at = Tensor(av, shape: [7, 9]), let bt = Tensor(bv, shape: [9, 10]) {
            print(try product(["a": at, "b": bt])[0].doubles[0])
        }

        """

    /// What the program prints, computed here by the reference evaluator.
    static func expected() throws -> [Double] {
        let seed = try Pipeline.function(Pipeline.parse("""
            func seed(x: f64, y: f64) {
              z = (x + sigmoid(x)) / (sigmoid(x) + (x + y)^2)
              return z, grad(z, x, y)
            }
            """), named: nil)
        let s = try evaluate(seed, ["x": Tensor(4.0), "y": Tensor(3.0)]).map { $0.doubles[0] }
        let mm = try Pipeline.function(Pipeline.parse("func mm(a: f64[7,9], b: f64[9,10]) {\n  return sum(a @ b)\n}\n"), named: nil)
        let a = try XCTUnwrap(Tensor((0..<63).map { Double($0 % 5) - 2 }, shape: [7, 9]))
        let b = try XCTUnwrap(Tensor((0..<90).map { Double($0 % 7) * 0.5 }, shape: [9, 10]))
        return s + (try evaluate(mm, ["a": a, "b": b]).map { $0.doubles[0] })
    }

    /// SwiftPM leaves lock files for a package in the temporary directory, named after the
    /// package's path with `/` as `_` (`_tmp_gradc-package-…_app_.build.lock`): removed too.
    static func removeSwiftPMLocks(of package: URL) {
        let temporary = TemporaryDirectory.systemRoot
        let stem = package.path.replacingOccurrences(of: "/", with: "_") + "_"
        let names = (try? FileManager.default.contentsOfDirectory(atPath: temporary.path)) ?? []
        for name in names where name.hasPrefix(stem) {
            try? FileManager.default.removeItem(at: temporary.appendingPathComponent(name))
        }
    }

    /// `name` found on PATH (then /opt/swift/usr/bin for swift), or nil.
    func executable(_ name: String) -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? ""
        let candidates = path.split(separator: ":").map { "\($0)/\(name)" } + ["/opt/swift/usr/bin/\(name)", "/usr/bin/\(name)"]
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0) }
    }
}
