import Foundation
import Grad
import TestSupport
import XCTest

final class CSmokeTests: XCTestCase {
    func testSeed() throws {
        let src = """
        func seed(x: f64, y: f64) {
          z = (x + sigmoid(x)) / (sigmoid(x) + (x + y)^2)
          dzdx, dzdy = grad(z, x, y)
          return z, dzdx, dzdy
        }
        """
        let f = try XCTUnwrap(Pipeline.parse(src).functions.first)
        let expanded = try Differentiator.expand(f)
        let c = try emitC([expanded])
        print(c.source)
        let exe = try compile(f, backend: .c)
        let inputs = [Tensor(0.5), Tensor(-1.25)]
        let got = try exe(inputs)
        let ref = try compile(f, backend: .reference)(inputs)
        XCTAssertEqual(got, ref)
    }
}
