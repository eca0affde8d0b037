import Foundation

// Pillow's `Image.resize(size, Image.BILINEAR)` for 8-bit RGB (what `convert('RGB')` gives, so every image
// the project reads), reproduced bit for bit so that training inputs match those of a PyTorch pipeline built
// on PIL. Pillow separates the resize into a horizontal and a vertical pass; each output sample is a weighted
// sum of input samples in 22-bit fixed point, rounded and clipped to 8 bits after every pass, so the order of
// the passes changes the result. Checked against Pillow 13 (Tests/Fixtures/resize, tools/make_resize_fixtures.py).

/// 8 bits of result, 2 bits of headroom for filters with negative lobes, in 32-bit integers.
private let precisionBits = 32 - 8 - 2

/// The input span and fixed-point weights of every output position along one axis.
private struct Taps {
    /// First input index read by each output index.
    var first: [Int]
    /// Number of input indices read by each output index.
    var count: [Int]
    /// `stride` weights per output index; only the first `count` are used.
    var weights: [Int32]
    var stride: Int

    /// The same taps reading from an image whose row 0 is input row `offset`.
    func shifted(by offset: Int) -> Taps {
        var t = self
        t.first = first.map { $0 - offset }
        return t
    }
}

/// Pillow's triangle filter, support 1.
private func triangle(_ x: Double) -> Double {
    let a = abs(x)
    return a < 1 ? 1 - a : 0
}

/// Pillow's `precompute_coeffs` for the triangle filter over the whole input, then its rounding to fixed
/// point. When shrinking, the filter is widened by the scale so every input pixel contributes (an area
/// average rather than point sampling). The arithmetic order follows Pillow's so the doubles are identical.
private func bilinearTaps(inSize: Int, outSize: Int) -> Taps {
    let scale = Double(Float(inSize)) / Double(outSize)
    let filterScale = max(scale, 1)
    let support = 1 * filterScale
    let stride = Int(support.rounded(.up)) * 2 + 1
    var taps = Taps(first: [], count: [], weights: [Int32](repeating: 0, count: outSize * stride), stride: stride)
    taps.first.reserveCapacity(outSize)
    taps.count.reserveCapacity(outSize)
    let inverse = 1 / filterScale
    var w = [Double](repeating: 0, count: stride)
    for xx in 0..<outSize {
        let center = 0 + (Double(xx) + 0.5) * scale
        let lo = max(Int(center - support + 0.5), 0)
        let n = min(Int(center + support + 0.5), inSize) - lo
        var total = 0.0
        for x in 0..<n {
            w[x] = triangle((Double(x + lo) - center + 0.5) * inverse)
            total += w[x]
        }
        for x in 0..<n {
            let normalized = total != 0 ? w[x] / total : w[x]
            taps.weights[xx * stride + x] = toFixedPoint(normalized)
        }
        taps.first.append(lo)
        taps.count.append(n)
    }
    return taps
}

/// Rounds half away from zero, as Pillow's `normalize_coeffs_8bpc`.
private func toFixedPoint(_ w: Double) -> Int32 {
    let scaled = w * Double(1 << precisionBits)
    return Int32(w < 0 ? scaled - 0.5 : scaled + 0.5)
}

/// Drops the fixed-point fraction (the sums start at one half, so this rounds) and clips to 0...255.
@inline(__always)
private func clip8(_ sum: Int) -> UInt8 {
    if sum <= 0 { return 0 }
    if sum >= 256 << precisionBits { return 255 }
    return UInt8(truncatingIfNeeded: sum >> precisionBits)
}

/// Resizes like Pillow's `Image.resize((width, height), Image.BILINEAR)` on an RGB image, bit-exact.
public func resizeBilinearPIL(_ image: RGB8Image, width: Int, height: Int) -> RGB8Image {
    precondition(width > 0 && height > 0, "resize to \(width)x\(height)")
    precondition(image.width > 0 && image.height > 0, "resize of an empty \(image.width)x\(image.height) image")
    // Pillow skips a pass whose size is unchanged (its taps would be the identity).
    let horizontal = width != image.width ? bilinearTaps(inSize: image.width, outSize: width) : nil
    let vertical = height != image.height ? bilinearTaps(inSize: image.height, outSize: height) : nil
    switch (horizontal, vertical) {
    case (nil, nil):
        return image
    case (let h?, nil):
        return resampleRows(image, rows: 0..<image.height, taps: h)
    case (nil, let v?):
        return resampleColumns(image, taps: v)
    case (let h?, let v?) where pillowResizesVerticallyFirst(image, width: width, height: height):
        let columns = resampleColumns(image, taps: v)
        return resampleRows(columns, rows: 0..<height, taps: h)
    case (let h?, let v?):
        // Only the rows the vertical pass will read.
        let rowsFrom = v.first[0]
        let rowsTo = v.first[height - 1] + v.count[height - 1]
        let rows = resampleRows(image, rows: rowsFrom..<rowsTo, taps: h)
        return resampleColumns(rows, taps: v.shifted(by: rowsFrom))
    }
}

/// Since Pillow 13 (`ImagingResampleInner`, python-pillow/Pillow#9549) the vertical pass runs first when the
/// height shrinks by more than twice as many pixels as the width does: 150×200 → 128×128 goes vertically
/// first, 200×150 → 128×128 and 100×120 → 80×80 horizontally. Pillow 12 and earlier always went horizontally
/// first, so for the vertical-first shapes they give about a fifth of the samples 1/255 apart from Pillow 13.
private func pillowResizesVerticallyFirst(_ image: RGB8Image, width: Int, height: Int) -> Bool {
    let heightShrink = image.height - height
    return heightShrink > 0 && heightShrink > 2 * (image.width - width)
}

/// The horizontal pass over the given input rows.
private func resampleRows(_ image: RGB8Image, rows: Range<Int>, taps: Taps) -> RGB8Image {
    let outWidth = taps.first.count
    var out = RGB8Image(width: outWidth, height: rows.count)
    image.pixels.withUnsafeBufferPointer { src in
        taps.weights.withUnsafeBufferPointer { weights in
            out.pixels.withUnsafeMutableBufferPointer { dst in
                for (outRow, row) in rows.enumerated() {
                    let srcRow = src.baseAddress! + row * image.width * 3
                    let dstRow = dst.baseAddress! + outRow * outWidth * 3
                    for xx in 0..<outWidth {
                        let k = weights.baseAddress! + xx * taps.stride
                        let p = srcRow + taps.first[xx] * 3
                        var (r, g, b) = (1 << (precisionBits - 1), 1 << (precisionBits - 1), 1 << (precisionBits - 1))
                        for x in 0..<taps.count[xx] {
                            let kx = Int(k[x])
                            r += Int(p[3 * x]) * kx
                            g += Int(p[3 * x + 1]) * kx
                            b += Int(p[3 * x + 2]) * kx
                        }
                        dstRow[3 * xx] = clip8(r)
                        dstRow[3 * xx + 1] = clip8(g)
                        dstRow[3 * xx + 2] = clip8(b)
                    }
                }
            }
        }
    }
    return out
}

/// The vertical pass; each output row is a weighted sum of whole input rows.
private func resampleColumns(_ image: RGB8Image, taps: Taps) -> RGB8Image {
    let outHeight = taps.first.count
    let rowLength = image.width * 3
    var out = RGB8Image(width: image.width, height: outHeight)
    var sums = [Int](repeating: 0, count: rowLength)
    image.pixels.withUnsafeBufferPointer { src in
        out.pixels.withUnsafeMutableBufferPointer { dst in
            sums.withUnsafeMutableBufferPointer { acc in
                for yy in 0..<outHeight {
                    acc.update(repeating: 1 << (precisionBits - 1))
                    for y in 0..<taps.count[yy] {
                        let k = Int(taps.weights[yy * taps.stride + y])
                        let srcRow = src.baseAddress! + (taps.first[yy] + y) * rowLength
                        for i in 0..<rowLength { acc[i] += Int(srcRow[i]) * k }
                    }
                    let dstRow = dst.baseAddress! + yy * rowLength
                    for i in 0..<rowLength { dstRow[i] = clip8(acc[i]) }
                }
            }
        }
    }
    return out
}
