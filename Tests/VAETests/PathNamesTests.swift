import Foundation
@testable import VAEFormats
import XCTest

/// `parentFolder` answers as NSString's `deletingLastPathComponent` does, also where that property traps.
final class PathNamesTests: XCTestCase {
    func testTheParentFolderIsFoundationsWhereFoundationAnswers() {
        for path in ["ab", "/ab", "/", "ab/", "ab//", "/x/y", "x/y/z", "x//y", "x/y/", "../y", "./yz", "/a/.", "dir/b c.png"] {
            XCTAssertEqual(parentFolder(path), (path as NSString).deletingLastPathComponent, path)
        }
    }

    /// One-character names make Foundation on Linux trap (SIGILL): `vae-dist export --output a` died so.
    func testOneCharacterNamesHaveNoFolder() {
        for path in ["a", ".", "a/", "é", "a//"] { XCTAssertEqual(parentFolder(path), "", path) }
        XCTAssertEqual(parentFolder("/a"), "/")
        XCTAssertEqual(parentFolder("x/a"), "x")
        XCTAssertEqual(parentFolder(""), "")
    }
}
