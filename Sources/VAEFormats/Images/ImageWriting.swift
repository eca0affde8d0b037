import CPNG
import Foundation
import VAECore

/// Encodes 8-bit RGB as PNG with libpng's simplified API (which reports errors instead of aborting)
/// and writes it atomically.
public func writePNG(_ image: RGB8Image, to path: String) throws {
    try writeEncodedPNG(image.pixels, of: image, format: PNG_FORMAT_RGB, flags: 0, to: path)
}

/// Writes the grey channel of an image whose channels are equal as a one-channel PNG in libpng's fast mode:
/// for speckle (phantoms), which deflate cannot shrink much, several times quicker than `writePNG`.
/// `loadImage` replicates grey into RGB, so the file reads back as the same RGB8Image.
public func writeGreyPNG(_ image: RGB8Image, to path: String) throws {
    try writeEncodedPNG(greyChannel(image), of: image, format: UInt32(PNG_FORMAT_GRAY), flags: UInt32(PNG_IMAGE_FLAG_FAST), to: path)
}

private func writeEncodedPNG(_ samples: [UInt8], of image: RGB8Image, format: UInt32, flags: UInt32, to path: String) throws {
    try writeFileAtomically(encodedPNG(samples, of: image, format: format, flags: flags, name: path), to: path)
}

/// The PNG file's bytes in memory (for pages that inline their images); a one-channel PNG when the image is
/// grey (all channels equal), which keeps scans small.
public func encodePNG(_ image: RGB8Image, name: String) throws -> [UInt8] {
    let p = image.pixels
    let isGrey = !stride(from: 0, to: p.count, by: 3).contains { (i: Int) -> Bool in p[i] != p[i + 1] || p[i] != p[i + 2] }
    guard isGrey else { return try encodedPNG(p, of: image, format: PNG_FORMAT_RGB, flags: 0, name: name) }
    return try encodedPNG(greyChannel(image), of: image, format: UInt32(PNG_FORMAT_GRAY), flags: 0, name: name)
}

private func greyChannel(_ image: RGB8Image) -> [UInt8] {
    stride(from: 0, to: image.pixels.count, by: 3).map { image.pixels[$0] }
}

/// `name` says which image failed in the error.
private func encodedPNG(_ samples: [UInt8], of image: RGB8Image, format: UInt32, flags: UInt32, name: String) throws -> [UInt8] {
    guard image.width > 0, image.height > 0 else {
        throw VAEDistError("\(name): cannot write an empty \(image.width)x\(image.height) image as PNG")
    }
    var png = png_image()
    png.version = UInt32(PNG_IMAGE_VERSION)
    png.width = UInt32(image.width)
    png.height = UInt32(image.height)
    png.format = format
    png.flags = flags
    func failure() -> VAEDistError {
        let message = withUnsafeBytes(of: &png.message) { String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self) }
        return VAEDistError("\(name): cannot encode the image as PNG: \(message)")
    }
    return try samples.withUnsafeBytes { pixels -> [UInt8] in
        // The first call only measures; the second fills a buffer of that size.
        var size = 0
        guard png_image_write_to_memory(&png, nil, &size, 0, pixels.baseAddress, 0, nil) != 0 else { throw failure() }
        var bytes = [UInt8](repeating: 0, count: size)
        let ok = bytes.withUnsafeMutableBytes { png_image_write_to_memory(&png, $0.baseAddress, &size, 0, pixels.baseAddress, 0, nil) }
        guard ok != 0 else { throw failure() }
        return Array(bytes.prefix(size))
    }
}

/// Tiles images in rows on a `background` grey, `padding` pixels around and between cells. Every cell
/// has the size of the largest tile and its tile is centred in it; short rows leave empty cells at the
/// end. Used for "originals above reconstructions" and "original | reconstruction" pictures.
public func composeGrid(_ rows: [[RGB8Image]], padding: Int = 2, background: UInt8 = 255) -> RGB8Image {
    precondition(padding >= 0, "negative padding \(padding)")
    let tiles = rows.joined()
    let cellWidth = tiles.map(\.width).max() ?? 0
    let cellHeight = tiles.map(\.height).max() ?? 0
    let columns = rows.map(\.count).max() ?? 0
    let width = padding + columns * (cellWidth + padding)
    let height = padding + rows.count * (cellHeight + padding)
    var grid = RGB8Image(width: width, height: height,
                         pixels: [UInt8](repeating: background, count: width * height * 3))
    for (r, row) in rows.enumerated() {
        for (c, tile) in row.enumerated() {
            let x = padding + c * (cellWidth + padding) + (cellWidth - tile.width) / 2
            let y = padding + r * (cellHeight + padding) + (cellHeight - tile.height) / 2
            paste(tile, into: &grid, x: x, y: y)
        }
    }
    return grid
}

private func paste(_ tile: RGB8Image, into grid: inout RGB8Image, x: Int, y: Int) {
    let rowBytes = tile.width * 3
    for row in 0..<tile.height {
        let to = ((y + row) * grid.width + x) * 3
        grid.pixels.replaceSubrange(to..<to + rowBytes, with: tile.pixels[row * rowBytes..<(row + 1) * rowBytes])
    }
}
