import Foundation

/// Pickles a `TorchSaveValue` with protocol 2, as `torch.save` does (its default `pickle_protocol`), using the
/// opcodes Python's own pickler emits for these types. A tensor becomes
/// `torch._utils._rebuild_tensor_v2(storage, 0, size, stride, False, collections.OrderedDict())` with its storage
/// as the persistent id `('storage', torch.FloatStorage, key, 'cpu', numel)`: the globals `torch.load` allows with
/// `weights_only=True`. Nothing is memoized (an unpickler needs no memo to read a tree).
struct PickleWriter {
    private(set) var bytes: [UInt8] = [0x80, 0x02]   // PROTO 2
    /// The tensors in the order their storages were named ("0", "1", …).
    private(set) var tensors: [TorchSaveTensor] = []

    /// Python's pickler puts at most this many items under one MARK.
    private static let batchSize = 1000

    static func pickle(_ value: TorchSaveValue) -> PickleWriter {
        var writer = PickleWriter()
        writer.write(value)
        writer.bytes.append(0x2E)                         // STOP
        return writer
    }

    private mutating func write(_ value: TorchSaveValue) {
        switch value {
        case .none: bytes.append(0x4E)                                   // NONE
        case .bool(let b): bytes.append(b ? 0x88 : 0x89)                // NEWTRUE, NEWFALSE
        case .int(let i): writeInt(i)
        case .float(let d):                                              // BINFLOAT, big-endian
            bytes.append(0x47)
            withUnsafeBytes(of: d.bitPattern.bigEndian) { bytes.append(contentsOf: $0) }
        case .string(let s):                                             // BINUNICODE
            let utf8 = Array(s.utf8)
            bytes.append(0x58)
            appendUInt32(UInt32(utf8.count))
            bytes.append(contentsOf: utf8)
        case .tuple(let items): writeTuple(items)
        case .list(let items):
            bytes.append(0x5D)                                           // EMPTY_LIST
            for batch in Self.batches(items.count) {
                if batch.count > 1 { bytes.append(0x28) }                // MARK
                batch.forEach { write(items[$0]) }
                bytes.append(batch.count > 1 ? 0x65 : 0x61)              // APPENDS, APPEND
            }
        case .dict(let items):
            bytes.append(0x7D)                                           // EMPTY_DICT
            writeItems(items)
        case .orderedDict(let items):
            writeEmptyOrderedDict()
            writeItems(items)
        case .tensor(let tensor): writeTensor(tensor)
        }
    }

    private mutating func writeInt(_ i: Int) {
        switch i {
        case 0...0xFF: bytes += [0x4B, UInt8(i)]                         // BININT1
        case 0...0xFFFF: bytes += [0x4D, UInt8(i & 0xFF), UInt8(i >> 8)] // BININT2
        case Int(Int32.min)...Int(Int32.max):                            // BININT
            bytes.append(0x4A)
            appendUInt32(UInt32(bitPattern: Int32(i)))
        default:                                                         // LONG1: shortest two's complement
            var le = withUnsafeBytes(of: Int64(i).littleEndian) { Array($0) }
            while le.count > 1 && ((le[le.count - 1] == 0 && le[le.count - 2] & 0x80 == 0)
                                   || (le[le.count - 1] == 0xFF && le[le.count - 2] & 0x80 != 0)) {
                le.removeLast()
            }
            bytes += [0x8A, UInt8(le.count)] + le
        }
    }

    private mutating func writeTuple(_ items: [TorchSaveValue]) {
        if items.isEmpty { bytes.append(0x29); return }                  // EMPTY_TUPLE
        if items.count <= 3 {
            items.forEach { write($0) }
            bytes.append([0x85, 0x86, 0x87][items.count - 1])           // TUPLE1, TUPLE2, TUPLE3
            return
        }
        bytes.append(0x28)                                               // MARK
        items.forEach { write($0) }
        bytes.append(0x74)                                               // TUPLE
    }

    private mutating func writeItems(_ items: [(key: TorchSaveValue, value: TorchSaveValue)]) {
        for batch in Self.batches(items.count) {
            if batch.count > 1 { bytes.append(0x28) }                    // MARK
            for i in batch {
                write(items[i].key)
                write(items[i].value)
            }
            bytes.append(batch.count > 1 ? 0x75 : 0x73)                  // SETITEMS, SETITEM
        }
    }

    /// As Python's `_batch_appends` / `_batch_setitems`: items in runs of at most 1000; a run of one takes the
    /// single-item opcode, longer runs sit under a MARK.
    private static func batches(_ count: Int) -> [Range<Int>] {
        stride(from: 0, to: count, by: batchSize).map { $0..<min($0 + batchSize, count) }
    }

    private mutating func writeGlobal(_ module: String, _ name: String) {
        bytes.append(0x63)                                               // GLOBAL "module\nname\n"
        bytes += Array("\(module)\n\(name)\n".utf8)
    }

    private mutating func writeEmptyOrderedDict() {
        writeGlobal("collections", "OrderedDict")
        bytes += [0x29, 0x52]                                            // EMPTY_TUPLE, REDUCE
    }

    private mutating func writeTensor(_ tensor: TorchSaveTensor) {
        let key = tensors.count
        tensors.append(tensor)
        writeGlobal("torch._utils", "_rebuild_tensor_v2")
        bytes += [0x28, 0x28]                                            // MARK (the arguments), MARK (the persistent id)
        write(.string("storage"))
        writeGlobal("torch", "FloatStorage")
        write(.string("\(key)"))
        write(.string("cpu"))
        write(.int(tensor.count))
        bytes += [0x74, 0x51]                                            // TUPLE, BINPERSID
        write(.int(0))                                                   // storage offset
        writeTuple(tensor.shape.map { .int($0) })
        writeTuple(tensor.strides.map { .int($0) })
        write(.bool(false))                                              // requires_grad
        writeEmptyOrderedDict()                                          // backward hooks
        bytes += [0x74, 0x52]                                            // TUPLE, REDUCE
    }

    private mutating func appendUInt32(_ v: UInt32) {
        withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) }
    }
}
