/// Winograd F(2×2, 3×3) for stride-1, pad-1 3×3 convolutions (Lavin & Gray, 2015): each 2×2 output tile is
/// computed from a 4×4 input tile with 16 multiplications instead of 36, as 16 GEMMs over all tiles of the
/// batch. The same transforms give the input gradient (a convolution with the flipped kernel) and the weight
/// gradient (Σ_tiles of the transformed input times the transformed output gradient).
///
///   forward:  Y = Aᵀ [ (G g Gᵀ) ⊙ (Bᵀ d B) ] A
///   weights:  dg = Gᵀ [ Σ_t (Bᵀ d_t B) ⊙ (A dY_t Aᵀ) ] G
public struct WinogradGeometry: Sendable {
    public let batch, height, width: Int
    public var tilesHigh: Int { (height + 1) / 2 }
    public var tilesWide: Int { (width + 1) / 2 }
    /// Tiles over the whole batch: the GEMMs' N dimension.
    public var tiles: Int { batch * tilesHigh * tilesWide }

    public init(batch: Int, height: Int, width: Int) {
        (self.batch, self.height, self.width) = (batch, height, width)
    }
}

public enum Winograd {
    /// Distance between consecutive ξ matrices of a transformed tensor. Padded so that the 16 matrices do not
    /// start at addresses 4 KiB apart: a tile's 16 values go to 16 streams, which would otherwise all map to the
    /// same cache sets and evict each other (a 6× slowdown of the transforms, measured).
    public static func stride(_ elements: Int) -> Int { (elements + 15) / 16 * 16 + 16 }

    /// All transformed tensors are 16 matrices `stride(rows · columns)` apart.
    ///
    /// U[ξ][o][i] = (G g[o][i] Gᵀ)[ξ] for weights [O, I, 3, 3]. With `flipped`, the kernel of the input
    /// gradient instead: g'[i][o] = g[o][i] rotated by 180°, giving U[ξ][i][o].
    public static func transformWeights(_ w: UnsafePointer<Float>, outChannels: Int, inChannels: Int,
                                        flipped: Bool, into u: UnsafeMutablePointer<Float>) {
        let pairs = outChannels * inChannels, step = Winograd.stride(pairs)
        Profile.measure(.winograd) {
            parallelFor(pairs, grain: 64) { range in
                for pair in range {
                    let o = pair / inChannels, i = pair % inChannels
                    let g = w + pair * 9
                    // The kernel's rows (rotated by 180° for the flipped kernel).
                    func kernelRow(_ r: Int) -> SIMD3<Float> {
                        flipped ? SIMD3(g[8 - 3 * r], g[7 - 3 * r], g[6 - 3 * r]) : SIMD3(g[3 * r], g[3 * r + 1], g[3 * r + 2])
                    }
                    let (k0, k1, k2) = (kernelRow(0), kernelRow(1), kernelRow(2))
                    // t = G g (rows k0, ½(k0 + k1 + k2), ½(k0 − k1 + k2), k2), then u = t Gᵀ row by row.
                    let dst = flipped ? i * outChannels + o : o * inChannels + i
                    func emit(_ r: Int, _ t: SIMD3<Float>) {
                        u[(4 * r + 0) * step + dst] = t[0]
                        u[(4 * r + 1) * step + dst] = 0.5 * (t[0] + t[1] + t[2])
                        u[(4 * r + 2) * step + dst] = 0.5 * (t[0] - t[1] + t[2])
                        u[(4 * r + 3) * step + dst] = t[2]
                    }
                    emit(0, k0)
                    emit(1, 0.5 * (k0 + k1 + k2))
                    emit(2, 0.5 * (k0 - k1 + k2))
                    emit(3, k2)
                }
            }
        }
    }

    /// V[ξ][c][t] = (Bᵀ d_t B)[ξ] for the 4×4 input tile d_t of channel c (pad 1, zeros outside the image).
    public static func transformInput(_ x: UnsafePointer<Float>, channels: Int, _ g: WinogradGeometry,
                                      into v: UnsafeMutablePointer<Float>) {
        let (h, w, th, tw) = (g.height, g.width, g.tilesHigh, g.tilesWide)
        let stride = Winograd.stride(channels * g.tiles)
        Profile.measure(.winograd) {
            parallelFor(g.batch * channels, grain: 1) { range in
                for nc in range {
                    let n = nc / channels, c = nc % channels
                    let plane = x + nc * h * w
                    let base = c * g.tiles + n * th * tw
                    for ty in 0..<th {
                        for tx in 0..<tw {
                            let y0 = 2 * ty - 1, x0 = 2 * tx - 1
                            // The tile's four rows, zero outside the image.
                            func row(_ r: Int) -> SIMD4<Float> {
                                let yy = y0 + r
                                guard yy >= 0 && yy < h else { return .zero }
                                let p = plane + yy * w
                                if x0 >= 0 && x0 + 3 < w { return SIMD4(p[x0], p[x0 + 1], p[x0 + 2], p[x0 + 3]) }
                                var v = SIMD4<Float>.zero
                                for s in 0..<4 where x0 + s >= 0 && x0 + s < w { v[s] = p[x0 + s] }
                                return v
                            }
                            let (d0, d1, d2, d3) = (row(0), row(1), row(2), row(3))
                            // Bᵀ d: rows (d0 − d2, d1 + d2, d2 − d1, d1 − d3); then the same on each row's columns.
                            let t = base + ty * tw + tx
                            func emit(_ r: Int, _ m: SIMD4<Float>) {
                                v[(4 * r + 0) * stride + t] = m[0] - m[2]
                                v[(4 * r + 1) * stride + t] = m[1] + m[2]
                                v[(4 * r + 2) * stride + t] = m[2] - m[1]
                                v[(4 * r + 3) * stride + t] = m[1] - m[3]
                            }
                            emit(0, d0 - d2)
                            emit(1, d1 + d2)
                            emit(2, d2 - d1)
                            emit(3, d1 - d3)
                        }
                    }
                }
            }
        }
    }

    /// y[n][c] = Aᵀ M_t A (+ bias) for every tile, cropped to the image: M is [16][channels][tiles].
    public static func inverseOutput(_ mt: UnsafePointer<Float>, channels: Int, _ g: WinogradGeometry,
                                     bias: UnsafePointer<Float>?, into y: UnsafeMutablePointer<Float>) {
        let (h, w, th, tw) = (g.height, g.width, g.tilesHigh, g.tilesWide)
        let stride = Winograd.stride(channels * g.tiles)
        Profile.measure(.winograd) {
            parallelFor(g.batch * channels, grain: 1) { range in
                for nc in range {
                    let n = nc / channels, c = nc % channels
                    let plane = y + nc * h * w
                    let b0 = bias.map { $0[c] } ?? 0
                    let base = c * g.tiles + n * th * tw
                    for ty in 0..<th {
                        for tx in 0..<tw {
                            let t = base + ty * tw + tx
                            func row(_ r: Int) -> SIMD4<Float> {
                                SIMD4(mt[(4 * r) * stride + t], mt[(4 * r + 1) * stride + t],
                                      mt[(4 * r + 2) * stride + t], mt[(4 * r + 3) * stride + t])
                            }
                            let (m0, m1, m2, m3) = (row(0), row(1), row(2), row(3))
                            // Aᵀ m: rows (m0 + m1 + m2, m1 − m2 − m3), then the same on columns.
                            let r0 = m0 + m1 + m2, r1 = m1 - m2 - m3
                            let oy = 2 * ty, ox = 2 * tx
                            plane[oy * w + ox] = r0[0] + r0[1] + r0[2] + b0
                            if ox + 1 < w { plane[oy * w + ox + 1] = r0[1] - r0[2] - r0[3] + b0 }
                            if oy + 1 < h {
                                plane[(oy + 1) * w + ox] = r1[0] + r1[1] + r1[2] + b0
                                if ox + 1 < w { plane[(oy + 1) * w + ox + 1] = r1[1] - r1[2] - r1[3] + b0 }
                            }
                        }
                    }
                }
            }
        }
    }

    /// W[ξ][c][t] = (A dY_t Aᵀ)[ξ] for the 2×2 output-gradient tile dY_t (zeros outside the image).
    public static func transformOutputGradient(_ dy: UnsafePointer<Float>, channels: Int, _ g: WinogradGeometry,
                                               into out: UnsafeMutablePointer<Float>) {
        let (h, w, th, tw) = (g.height, g.width, g.tilesHigh, g.tilesWide)
        let stride = Winograd.stride(channels * g.tiles)
        Profile.measure(.winograd) {
            parallelFor(g.batch * channels, grain: 1) { range in
                for nc in range {
                    let n = nc / channels, c = nc % channels
                    let plane = dy + nc * h * w
                    let base = c * g.tiles + n * th * tw
                    for ty in 0..<th {
                        for tx in 0..<tw {
                            let oy = 2 * ty, ox = 2 * tx
                            let a = plane[oy * w + ox]
                            let b = ox + 1 < w ? plane[oy * w + ox + 1] : 0
                            let e = oy + 1 < h ? plane[(oy + 1) * w + ox] : 0
                            let f = (oy + 1 < h && ox + 1 < w) ? plane[(oy + 1) * w + ox + 1] : 0
                            // A dY (4×2): rows (a, b), (a + e, b + f), (a − e, b − f), (−e, −f); then · Aᵀ.
                            let p = SIMD4<Float>(a, a + e, a - e, -e), q = SIMD4<Float>(b, b + f, b - f, -f)
                            let t = base + ty * tw + tx
                            for r in 0..<4 {
                                out[(4 * r + 0) * stride + t] = p[r]
                                out[(4 * r + 1) * stride + t] = p[r] + q[r]
                                out[(4 * r + 2) * stride + t] = p[r] - q[r]
                                out[(4 * r + 3) * stride + t] = -q[r]
                            }
                        }
                    }
                }
            }
        }
    }

    /// dg[o][i] += Gᵀ M[·][o][i] G for M of shape [16][O][I].
    public static func accumulateWeightGradient(_ mt: UnsafePointer<Float>, outChannels: Int, inChannels: Int,
                                                into dw: UnsafeMutablePointer<Float>) {
        let pairs = outChannels * inChannels, step = Winograd.stride(pairs)
        Profile.measure(.winograd) {
            parallelFor(pairs, grain: 64) { range in
                for pair in range {
                    func row(_ r: Int) -> SIMD4<Float> {
                        SIMD4(mt[(4 * r) * step + pair], mt[(4 * r + 1) * step + pair],
                              mt[(4 * r + 2) * step + pair], mt[(4 * r + 3) * step + pair])
                    }
                    let (m0, m1, m2, m3) = (row(0), row(1), row(2), row(3))
                    // Gᵀ m: rows (m0 + ½(m1 + m2), ½(m1 − m2), ½(m1 + m2) + m3), then · G on each row.
                    let out = dw + pair * 9
                    func emit(_ r: Int, _ t: SIMD4<Float>) {
                        out[3 * r] += t[0] + 0.5 * (t[1] + t[2])
                        out[3 * r + 1] += 0.5 * (t[1] - t[2])
                        out[3 * r + 2] += 0.5 * (t[1] + t[2]) + t[3]
                    }
                    emit(0, m0 + 0.5 * (m1 + m2))
                    emit(1, 0.5 * (m1 - m2))
                    emit(2, 0.5 * (m1 + m2) + m3)
                }
            }
        }
    }
}
