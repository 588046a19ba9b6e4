import XCTest
final class GradOptimizerTestsPlaceholder: XCTestCase { func testBuilds() {} }
