import CCairo
import VAECore
import VAEFormats
import XCTest

/// A PNG read back with Cairo, to check what a plot function really wrote.
struct DecodedPNG {
    let width: Int
    let height: Int
    /// 0xAARRGGBB per pixel, row by row.
    let pixels: [UInt32]

    init(path: String) throws {
        let surface = cairo_image_surface_create_from_png(path)
        defer { cairo_surface_destroy(surface) }
        guard cairo_surface_status(surface) == CAIRO_STATUS_SUCCESS else {
            throw VAEDistError("cannot decode \(path): \(String(cString: cairo_status_to_string(cairo_surface_status(surface))))")
        }
        let format = cairo_image_surface_get_format(surface)
        guard format == CAIRO_FORMAT_RGB24 || format == CAIRO_FORMAT_ARGB32 else {
            throw VAEDistError("\(path) decoded to an unexpected pixel format")
        }
        width = Int(cairo_image_surface_get_width(surface))
        height = Int(cairo_image_surface_get_height(surface))
        let stride = Int(cairo_image_surface_get_stride(surface))
        let data = cairo_image_surface_get_data(surface)!
        var pixels: [UInt32] = []
        pixels.reserveCapacity(width * height)
        for row in 0..<height {
            let line = UnsafeRawPointer(data + row * stride).assumingMemoryBound(to: UInt32.self)
            pixels.append(contentsOf: UnsafeBufferPointer(start: line, count: width))
        }
        self.pixels = pixels
    }

    /// Pixels within `tolerance` of `color` in every channel.
    func count(of color: PlotColor, tolerance: Int = 2) -> Int {
        pixels.reduce(0) { total, pixel in
            let r = Int(pixel >> 16 & 0xFF), g = Int(pixel >> 8 & 0xFF), b = Int(pixel & 0xFF)
            let close = abs(r - Int(color.r)) <= tolerance && abs(g - Int(color.g)) <= tolerance
                && abs(b - Int(color.b)) <= tolerance
            return total + (close ? 1 : 0)
        }
    }

    func color(x: Int, y: Int) -> PlotColor {
        let pixel = pixels[y * width + x]
        return PlotColor(UInt8(pixel >> 16 & 0xFF), UInt8(pixel >> 8 & 0xFF), UInt8(pixel & 0xFF))
    }
}

/// A fresh directory for one test's files, removed afterwards.
func makeScratchDirectory(_ test: XCTestCase) throws -> String {
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("plots-\(UUID().uuidString)").path
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    test.addTeardownBlock { try? FileManager.default.removeItem(atPath: path) }
    return path
}
