import VAECore
import VAEFormats

// The one way an image becomes model input and back: every command (train, validation, reconstruct, analyze,
// bench) and the PIL-exactness tests go file → `loadResized` → `imageBatch`, and write with `batchImages`.

/// Decodes an image file (as PIL's `convert('RGB')`) and resizes it to size × size with PIL's bilinear filter.
public func loadResized(_ path: String, size: Int) throws -> RGB8Image {
    resizeBilinearPIL(try loadImage(path: path), width: size, height: size)
}

/// v/255·2−1 in Float for every byte, as torchvision/numpy pipelines compute it.
private let signedFromByte: [Float] = (0..<256).map { Float($0) / 255 * 2 - 1 }

/// Images of one size as the model's input: [N, 3, H, W], channel-first floats in [-1, 1].
public func imageBatch(_ images: [RGB8Image]) -> Tensor {
    let (width, height) = (images.first?.width ?? 0, images.first?.height ?? 0)
    precondition(images.allSatisfy { $0.width == width && $0.height == height }, "the images of a batch are resized to one size first")
    let batch = Tensor(shape: [images.count, 3, height, width])
    let plane = width * height
    for (item, image) in images.enumerated() {
        batch.withMutableItem(item) { out in
            image.pixels.withUnsafeBufferPointer { src in
                for i in 0..<plane {
                    for c in 0..<3 { out[c * plane + i] = signedFromByte[Int(src[3 * i + c])] }
                }
            }
        }
    }
    return batch
}

/// The inverse of `imageBatch`, for writing: each item of [N, 3, H, W] as 8-bit RGB, clamped to [-1, 1], then
/// (v+1)/2·255 rounded to nearest. NaN becomes 0 so a diverged model still gives a picture.
public func batchImages(_ batch: Tensor) -> [RGB8Image] {
    let d = batch.dims
    precondition(d.c == 3, "an image batch has 3 channels, not \(d.c)")
    return (0..<d.n).map { item in
        var image = RGB8Image(width: d.w, height: d.h)
        batch.withItem(item) { values in
            image.pixels.withUnsafeMutableBufferPointer { dst in
                for i in 0..<d.plane {
                    for c in 0..<3 { dst[3 * i + c] = byteFromSigned(values[c * d.plane + i]) }
                }
            }
        }
        return image
    }
}

@inline(__always)
private func byteFromSigned(_ v: Float) -> UInt8 {
    // Written so that NaN fails both comparisons and lands on -1.
    let clamped: Float = v > 1 ? 1 : (v >= -1 ? v : -1)
    return UInt8(((clamped + 1) / 2 * 255).rounded())
}
