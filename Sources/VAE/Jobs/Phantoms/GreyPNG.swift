import Foundation
import CPNG

/// Writes the grey channel of an image whose channels are equal as a one-channel PNG, atomically. Phantoms are
/// speckle, which deflate cannot shrink much: one channel instead of three, and libpng's fast mode, make writing
/// several times quicker. `loadImage` replicates grey into RGB, so the file reads back as the same RGB8Image.
func writeGreyPNG(_ image: RGB8Image, to path: String) throws {
    precondition(image.width > 0 && image.height > 0, "empty \(image.width)x\(image.height) image")
    let grey = stride(from: 0, to: image.pixels.count, by: 3).map { image.pixels[$0] }
    var png = png_image()
    png.version = UInt32(PNG_IMAGE_VERSION)
    png.width = UInt32(image.width)
    png.height = UInt32(image.height)
    png.format = UInt32(PNG_FORMAT_GRAY)
    png.flags = UInt32(PNG_IMAGE_FLAG_FAST)
    func failure() -> IOFailure {
        let message = withUnsafeBytes(of: &png.message) { String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self) }
        return IOFailure("\(path): cannot encode the image as PNG: \(message)")
    }
    let bytes = try grey.withUnsafeBytes { pixels -> [UInt8] in
        // The first call only measures; the second fills a buffer of that size.
        var size = 0
        guard png_image_write_to_memory(&png, nil, &size, 0, pixels.baseAddress, 0, nil) != 0 else { throw failure() }
        var bytes = [UInt8](repeating: 0, count: size)
        let ok = bytes.withUnsafeMutableBytes { png_image_write_to_memory(&png, $0.baseAddress, &size, 0, pixels.baseAddress, 0, nil) }
        guard ok != 0 else { throw failure() }
        return Array(bytes.prefix(size))
    }
    try writeFileAtomically(bytes, to: path)
}
