import VAECore

/// Turns a tensor reference into Float32 values: checks its view against its storage (every size and index
/// overflow-checked), reads only the bytes the view touches, converts the dtype and gathers strided views.
struct TorchTensorDecoder {
    let archive: ZipArchive
    /// The archive's top folder with its slash, e.g. "archive/" (older torch used the file's stem).
    let prefix: String
    let bigEndian: Bool

    func decode(_ tensor: TorchTensorReference, name: String) throws -> SafeTensors.Entry {
        let path = archive.file.path
        func fail(_ why: String) -> VAEDistError { VAEDistError("\(path): tensor \(quotedName(name)) \(why)") }
        let storage = tensor.storage
        guard storage.dtype.isFloatingPoint else {
            throw fail("has dtype \(storage.dtype) (\(storage.dtype.rawValue)Storage); only float64/32/16 and bfloat16 tensors can be weights")
        }
        guard tensor.shape.allSatisfy({ $0 >= 0 }), tensor.strides.allSatisfy({ $0 >= 0 }), tensor.offset >= 0 else {
            throw fail("has a negative size, stride or offset (shape \(tensor.shape), strides \(tensor.strides), offset \(tensor.offset))")
        }
        guard let count = representableElementCount(tensor.shape) else { throw fail("has an impossible shape \(tensor.shape)") }
        var lastElement = tensor.offset
        for (size, stride) in zip(tensor.shape, tensor.strides) {
            let reach = (size == 0 ? 0 : size - 1).multipliedReportingOverflow(by: stride)
            let end = lastElement.addingReportingOverflow(reach.partialValue)
            guard !reach.overflow, !end.overflow else { throw fail("has an impossible shape \(tensor.shape)") }
            lastElement = end.partialValue
        }
        guard count > 0 else { return SafeTensors.Entry(shape: tensor.shape, values: []) }
        guard lastElement < storage.count else {
            throw fail("reaches element \(lastElement) of its storage data/\(storage.key), which holds \(storage.count) (corrupt checkpoint)")
        }
        guard count <= storage.count else {
            throw fail("has \(count) elements viewing a storage of \(storage.count) (an expanded view); save it with .contiguous()")
        }
        let width = storage.dtype.width
        guard let entry = archive.entry(prefix + "data/" + storage.key) else {
            throw fail("lives in storage data/\(storage.key), which the archive lacks")
        }
        let data = try archive.dataRange(of: entry)
        let (storageBytes, overflow) = storage.count.multipliedReportingOverflow(by: width)
        guard !overflow, storageBytes <= data.count else {
            throw fail("needs \(storage.count) × \(width) bytes of storage data/\(storage.key), which has \(data.count) (corrupt checkpoint)")
        }
        // Both products are below storageBytes, so they cannot overflow.
        let firstByte = tensor.offset * width, endByte = (lastElement + 1) * width
        let raw = try archive.file.read(at: data.lowerBound + firstByte, count: endByte - firstByte,
                                        what: "the storage of tensor '\(name)'")
        let values = Self.convert(raw, dtype: storage.dtype, bigEndian: bigEndian)
        // A size-1 dimension is never stepped along, so its stride (any value in torch, unchecked above) is not an
        // offset: zero it, or the gather's odometer would add it and overflow.
        let strides = zip(tensor.shape, tensor.strides).map { size, stride in size == 1 ? 0 : stride }
        return SafeTensors.Entry(shape: tensor.shape, values: Self.gather(values, shape: tensor.shape, strides: strides))
    }

    /// Raw elements to Float (little-endian unless `bigEndian`).
    static func convert(_ raw: [UInt8], dtype: TorchDType, bigEndian: Bool) -> [Float] {
        raw.withUnsafeBytes { bytes -> [Float] in
            func load<T: FixedWidthInteger>(_ i: Int, _: T.Type) -> T {
                let v = bytes.loadUnaligned(fromByteOffset: i * MemoryLayout<T>.size, as: T.self)
                return bigEndian ? T(bigEndian: v) : T(littleEndian: v)
            }
            let n = raw.count / dtype.width
            switch dtype {
            case .float64: return (0..<n).map { Float(Double(bitPattern: load($0, UInt64.self))) }
            case .float16: return (0..<n).map { Float(Float16(bitPattern: load($0, UInt16.self))) }
            case .bfloat16: return (0..<n).map { Float(bitPattern: UInt32(load($0, UInt16.self)) << 16) }
            default: return (0..<n).map { Float(bitPattern: load($0, UInt32.self)) }
            }
        }
    }

    /// The row-major elements of a strided view whose first element is `values[0]`.
    static func gather(_ values: [Float], shape: [Int], strides: [Int]) -> [Float] {
        var contiguous = [Int](repeating: 1, count: shape.count)
        for i in stride(from: shape.count - 2, through: 0, by: -1) { contiguous[i] = contiguous[i + 1] * shape[i + 1] }
        let isContiguous = zip(zip(shape, strides), contiguous).allSatisfy { $0.0 == 1 || $0.1 == $1 }
        let count = shape.reduce(1, *)
        if isContiguous && values.count == count { return values }
        var result = [Float](); result.reserveCapacity(count)
        var index = [Int](repeating: 0, count: shape.count)
        var at = 0
        for _ in 0..<count {
            result.append(values[at])
            // Odometer: advance the last dimension, carrying into earlier ones.
            var d = shape.count - 1
            while d >= 0 {
                index[d] += 1
                at += strides[d]
                if index[d] < shape[d] { break }
                at -= strides[d] * shape[d]
                index[d] = 0
                d -= 1
            }
        }
        return result
    }
}
