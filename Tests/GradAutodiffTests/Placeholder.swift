import XCTest
final class GradAutodiffTestsPlaceholder: XCTestCase { func testBuilds() {} }
