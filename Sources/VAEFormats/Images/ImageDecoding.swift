import CPNG
import CTurboJPEG
import Foundation
import VAECore

/// An 8-bit RGB image: interleaved R, G, B, rows top to bottom.
public struct RGB8Image: Equatable, Sendable {
    public let width: Int
    public let height: Int
    public var pixels: [UInt8]

    public init(width: Int, height: Int, pixels: [UInt8]) {
        precondition(width >= 0 && height >= 0, "negative image size \(width)x\(height)")
        precondition(pixels.count == width * height * 3,
                     "\(pixels.count) bytes for a \(width)x\(height) RGB image")
        self.width = width
        self.height = height
        self.pixels = pixels
    }

    /// A black image.
    public init(width: Int, height: Int) {
        self.init(width: width, height: height, pixels: [UInt8](repeating: 0, count: max(width * height * 3, 0)))
    }
}

/// Whether the name looks like an image we load (png, jpg, jpeg in any case); used to pick files from folders.
public func isImageFile(_ path: String) -> Bool {
    ["png", "jpg", "jpeg"].contains((path as NSString).pathExtension.lowercased())
}

/// Pillow refuses images above 2 · MAX_IMAGE_PIXELS as decompression bombs; the same bound keeps a forged
/// header from making us allocate gigabytes.
let maxImagePixels = 2 * 89_478_485

/// Loads a PNG or JPEG (chosen by the file's signature, not its name) as 8-bit RGB, matching
/// PIL's `Image.open(path).convert('RGB')`: gray is replicated, alpha dropped without compositing,
/// 16-bit samples scaled to round(v·255/65535), embedded gamma and colour profiles ignored.
public func loadImage(path: String) throws -> RGB8Image {
    let bytes = try readWholeFile(path)
    if bytes.isEmpty { throw VAEDistError("\(path): the file is empty, not an image") }
    if bytes.starts(with: pngSignature) { return try decodePNG(bytes, path: path) }
    if bytes.starts(with: [0xFF, 0xD8, 0xFF]) { return try decodeJPEG(bytes, path: path) }
    let head = bytes.prefix(8).map { String(format: "%02x", $0) }.joined(separator: " ")
    throw VAEDistError("\(path): not a PNG or JPEG file (the file starts with bytes \(head))")
}

/// Image files above this size are refused before reading: no PNG or JPEG a VAE trains on comes near it, and a
/// mislabelled huge file (or a symlink to one) would otherwise be read into memory whole.
let maxImageFileBytes = 512 << 20

/// Reads a file with POSIX calls so that the error names the reason (missing, permission, directory). Only regular
/// files (symlinks followed) are opened: a FIFO would block the open forever and a device like /dev/zero never ends.
private func readWholeFile(_ path: String) throws -> [UInt8] {
    func failure(_ err: Int32) -> VAEDistError {
        VAEDistError("\(path): cannot read the file: \(String(cString: strerror(err)))")
    }
    var info = stat()
    guard stat(path, &info) == 0 else { throw failure(errno) }
    try checkImageFile(info, path: path)
    // Non-blocking, so that a file swapped for a FIFO after the check cannot block the open; checked again below.
    let fd = open(path, O_RDONLY | O_NONBLOCK)
    guard fd >= 0 else { throw failure(errno) }
    defer { close(fd) }
    guard fstat(fd, &info) == 0 else { throw failure(errno) }
    try checkImageFile(info, path: path)
    var bytes = [UInt8]()
    bytes.reserveCapacity(Int(info.st_size))
    var chunk = [UInt8](repeating: 0, count: 1 << 16)
    while true {
        let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress!, $0.count) }
        if n < 0 {
            if errno == EINTR { continue }
            throw failure(errno)
        }
        if n == 0 { return bytes }
        bytes.append(contentsOf: chunk[0..<n])
        if bytes.count > maxImageFileBytes { throw tooLarge(path) }
    }
}

/// Refuses anything but a regular file of at most `maxImageFileBytes`.
private func checkImageFile(_ info: stat, path: String) throws {
    let kind = info.st_mode & S_IFMT
    if kind == S_IFDIR { throw VAEDistError("\(path): cannot read the file: \(String(cString: strerror(EISDIR)))") }
    guard kind == S_IFREG else {
        throw VAEDistError("\(path): not a regular file (it is \(fileKindDescription(info.st_mode))); images are read only from regular files")
    }
    guard info.st_size <= maxImageFileBytes else { throw tooLarge(path) }
}

private func tooLarge(_ path: String) -> VAEDistError {
    VAEDistError("\(path): the file is larger than \(maxImageFileBytes >> 20) MB, the most accepted for an image")
}

private func checkPixelCount(width: Int, height: Int, path: String) throws {
    guard width > 0, height > 0 else { throw VAEDistError("\(path): the image has size \(width)x\(height)") }
    guard width * height <= maxImagePixels else {
        throw VAEDistError("\(path): the image is \(width)x\(height) pixels, more than the \(maxImagePixels) accepted")
    }
}

// MARK: PNG

private let pngSignature: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]

/// libpng's simplified API is used because it catches libpng's errors (setjmp/longjmp inside libpng),
/// which Swift cannot do: any damage comes back as a return value and a message, never an abort.
private func decodePNG(_ bytes: [UInt8], path: String) throws -> RGB8Image {
    let stream = withoutColorManagementChunks(bytes)
    var image = png_image()
    image.version = UInt32(PNG_IMAGE_VERSION)
    defer { png_image_free(&image) }
    func failure(_ what: String) -> VAEDistError {
        VAEDistError("\(path): \(what): \(pngMessage(&image))")
    }
    // libpng keeps pointing into the buffer between begin and finish, so both happen inside one closure.
    return try stream.withUnsafeBytes { raw -> RGB8Image in
        guard png_image_begin_read_from_memory(&image, raw.baseAddress, raw.count) != 0 else {
            throw failure("invalid PNG header")
        }
        let (width, height) = (Int(image.width), Int(image.height))
        try checkPixelCount(width: width, height: height, path: path)
        // Without gamma chunks (removed above) 16-bit samples are then taken as sRGB-encoded,
        // so libpng only rescales them (exactly round(v·255/65535)) instead of gamma-encoding them.
        image.flags |= UInt32(PNG_IMAGE_FLAG_16BIT_sRGB)
        // RGBA rather than RGB: asking for RGB from an image with alpha would composite onto a background.
        image.format = UInt32(PNG_FORMAT_FLAG_COLOR | PNG_FORMAT_FLAG_ALPHA)  // PNG_FORMAT_RGBA
        var rgba = [UInt8](repeating: 0, count: width * height * 4)
        let ok = rgba.withUnsafeMutableBytes { png_image_finish_read(&image, nil, $0.baseAddress, 0, nil) }
        guard ok != 0 else { throw failure("invalid or truncated PNG data") }
        return RGB8Image(width: width, height: height, pixels: droppingAlpha(rgba))
    }
}

private func pngMessage(_ image: inout png_image) -> String {
    withUnsafeBytes(of: &image.message) { raw in
        String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
    }
}

private func droppingAlpha(_ rgba: [UInt8]) -> [UInt8] {
    let count = rgba.count / 4
    return [UInt8](unsafeUninitializedCapacity: count * 3) { out, initialized in
        rgba.withUnsafeBufferPointer { src in
            for i in 0..<count {
                out[3 * i] = src[4 * i]
                out[3 * i + 1] = src[4 * i + 1]
                out[3 * i + 2] = src[4 * i + 2]
            }
        }
        initialized = count * 3
    }
}

/// PIL ignores gAMA, sRGB, iCCP and cHRM when decoding, while libpng's simplified API would convert the
/// pixels to sRGB from them; removing these chunks keeps the stored values. Damaged chunk structure is
/// passed on untouched so that libpng reports it.
private func withoutColorManagementChunks(_ bytes: [UInt8]) -> [UInt8] {
    let dropped: Set<String> = ["gAMA", "sRGB", "iCCP", "cHRM"]
    var drop = [Range<Int>]()
    var offset = pngSignature.count
    while offset + 8 <= bytes.count {
        let length = bytes[offset..<offset + 4].reduce(0) { $0 << 8 | Int($1) }
        let type = String(decoding: bytes[offset + 4..<offset + 8], as: UTF8.self)
        let end = offset + 12 + length
        guard end <= bytes.count, type != "IEND" else { break }
        if dropped.contains(type) { drop.append(offset..<end) }
        offset = end
    }
    if drop.isEmpty { return bytes }
    var kept = [UInt8]()
    kept.reserveCapacity(bytes.count)
    var start = 0
    for range in drop {
        kept.append(contentsOf: bytes[start..<range.lowerBound])
        start = range.upperBound
    }
    kept.append(contentsOf: bytes[start...])
    return kept
}

// MARK: JPEG

/// JPEG goes through TurboJPEG rather than the libjpeg API: libjpeg reports errors by calling
/// `error_exit`, which must not return (the default one exits the process), so a safe caller has to
/// longjmp out of it, and Swift cannot call setjmp. TurboJPEG wraps libjpeg(-turbo) with exactly that
/// setjmp handling in C and returns -1 with a message. Without the FASTDCT/FASTUPSAMPLE flags it decodes
/// as PIL does (libjpeg defaults: accurate integer IDCT, fancy upsampling), and gray to RGB replicates.
private func decodeJPEG(_ bytes: [UInt8], path: String) throws -> RGB8Image {
    guard let handle = tjInitDecompress() else {
        throw VAEDistError("\(path): cannot initialise the JPEG decoder: \(String(cString: tjGetErrorStr2(nil)))")
    }
    defer { tjDestroy(handle) }
    func failure(_ what: String) -> VAEDistError {
        VAEDistError("\(path): \(what): \(String(cString: tjGetErrorStr2(handle)))")
    }
    return try bytes.withUnsafeBufferPointer { jpeg -> RGB8Image in
        var (w, h, subsampling, colorspace): (Int32, Int32, Int32, Int32) = (0, 0, 0, 0)
        // A header cut short "succeeds" with a warning and a 0x0 size, hence the size check.
        guard tjDecompressHeader3(handle, jpeg.baseAddress, UInt(jpeg.count), &w, &h, &subsampling, &colorspace) == 0,
              w > 0, h > 0 else {
            throw failure("invalid JPEG header")
        }
        if colorspace == Int32(TJCS_CMYK.rawValue) || colorspace == Int32(TJCS_YCCK.rawValue) {
            throw VAEDistError("\(path): CMYK JPEGs are not supported; convert the file to RGB")
        }
        let (width, height) = (Int(w), Int(h))
        try checkPixelCount(width: width, height: height, path: path)
        var pixels = [UInt8](repeating: 0, count: width * height * 3)
        // Warnings (premature end of data, corrupt entropy data) mean damaged pixels: stop and report them,
        // rather than train on grey blocks. LIMITSCANS rejects progressive files built to take forever.
        let flags = TJFLAG_STOPONWARNING | TJFLAG_LIMITSCANS
        let status = pixels.withUnsafeMutableBufferPointer {
            tjDecompress2(handle, jpeg.baseAddress, UInt(jpeg.count), $0.baseAddress, w, 0, h,
                          Int32(TJPF_RGB.rawValue), flags)
        }
        guard status == 0 else {
            let damaged = tjGetErrorCode(handle) == Int32(TJERR_WARNING.rawValue)
            throw failure(damaged ? "truncated or corrupt JPEG data" : "cannot decode the JPEG data")
        }
        return RGB8Image(width: width, height: height, pixels: pixels)
    }
}
