import Foundation
import VAECore

extension SafeTensors {
    /// The element types of the safetensors specification (huggingface/safetensors `Dtype`).
    public enum DType: String, CaseIterable, Sendable {
        case bool = "BOOL", u8 = "U8", i8 = "I8", u16 = "U16", i16 = "I16", u32 = "U32", i32 = "I32",
             u64 = "U64", i64 = "I64", f4 = "F4", f6E2M3 = "F6_E2M3", f6E3M2 = "F6_E3M2", f8E5M2 = "F8_E5M2",
             f8E4M3 = "F8_E4M3", f8E8M0 = "F8_E8M0", f16 = "F16", bf16 = "BF16", f32 = "F32", f64 = "F64",
             c64 = "C64"

        public var bitWidth: Int {
            switch self {
            case .f4: return 4
            case .f6E2M3, .f6E3M2: return 6
            case .bool, .u8, .i8, .f8E5M2, .f8E4M3, .f8E8M0: return 8
            case .u16, .i16, .f16, .bf16: return 16
            case .u32, .i32, .f32: return 32
            case .u64, .i64, .f64, .c64: return 64
            }
        }

        /// The dtypes this program converts to Float when a tensor is read.
        public static let readableAsFloat: [DType] = [.f32, .f16, .bf16, .f64]

        public var isReadableAsFloat: Bool { Self.readableAsFloat.contains(self) }
    }

    /// One tensor as the header describes it (validated, not decoded).
    public struct TensorInfo: Equatable, Sendable {
        public let name: String
        public let dtype: DType
        public let shape: [Int]
        public let elementCount: Int
        /// The tensor's bytes, counted from the start of the data buffer (which follows the header).
        public let dataOffsets: Range<Int>
    }

    /// A validated header: every tensor's dtype, shape and place, and the "__metadata__" strings.
    public struct Header: Sendable {
        /// In the order of their data.
        public let tensors: [TensorInfo]
        public let metadata: [String: String]
        /// Where the data buffer starts in the file: after the 8-byte length and the header.
        public let dataStart: Int

        /// The header's byte length, read from the first 8 bytes, checked against the limit and the file size.
        static func length(prefix: [UInt8], fileSize: Int, path: String) throws -> Int {
            guard prefix.count == 8 else { throw notSafeTensors(path, "shorter than the 8-byte header length") }
            let length = prefix.reversed().reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
            guard length <= UInt64(fileSize - 8) else {
                throw notSafeTensors(path, "header length \(length) exceeds the file size \(fileSize) (truncated or not safetensors)")
            }
            // The reference implementation's limit.
            guard length <= UInt64(maxHeaderBytes) else {
                throw notSafeTensors(path, "header length \(length) exceeds the \(maxHeaderBytes)-byte limit of the format")
            }
            return Int(length)
        }

        static let maxHeaderBytes = 100_000_000

        /// Applies the rules of the reference implementation (`Metadata::validate` and its deserialization):
        /// a UTF-8 JSON object without duplicate keys, known dtypes, integer shapes and offsets whose byte
        /// sizes agree without overflow, and tensors that tile the data buffer exactly: no gap, no overlap,
        /// nothing after the last one.
        init(json headerBytes: [UInt8], dataSize: Int, path: String) throws {
            guard String(validating: headerBytes, as: UTF8.self) != nil else {
                throw notSafeTensors(path, "the header is not valid UTF-8")
            }
            let root: JSONValue
            do {
                root = try StrictJSONReader.parse(headerBytes)
            } catch let error as JSONSyntaxError {
                throw notSafeTensors(path, "the header is not JSON: \(error.message)")
            }
            guard case .object(let members) = root else {
                throw notSafeTensors(path, "the header is \(root.quoted(limit: 40)), not a JSON object")
            }
            var tensors = [TensorInfo]()
            var metadata = [String: String]()
            var names = Set<String>()
            for (name, value) in members {
                if name == "__metadata__" {
                    metadata = try Self.metadata(value, path: path)
                    continue
                }
                // The JSON reader refused byte-identical keys; this catches two Unicode spellings of one name.
                guard names.insert(name).inserted else {
                    throw notSafeTensors(path, "two tensors are named \(quotedName(name)) (the same text in different Unicode forms)")
                }
                tensors.append(try Self.tensor(name, value, dataSize: dataSize, path: path))
            }
            tensors.sort { ($0.dataOffsets.lowerBound, $0.dataOffsets.upperBound) < ($1.dataOffsets.lowerBound, $1.dataOffsets.upperBound) }
            try Self.checkTiling(tensors, dataSize: dataSize, path: path)
            self.tensors = tensors
            self.metadata = metadata
            self.dataStart = 8 + headerBytes.count
        }

        private static func metadata(_ value: JSONValue, path: String) throws -> [String: String] {
            switch value {
            case .null: return [:]  // the reference reads a null "__metadata__" as absent
            case .object(let members):
                var metadata = [String: String]()
                for (key, entry) in members {
                    guard case .string(let text) = entry else {
                        throw notSafeTensors(path, "__metadata__ \(quotedName(key)) is \(entry.quoted(limit: 40)); metadata values must be strings")
                    }
                    metadata[key] = text
                }
                return metadata
            default:
                throw notSafeTensors(path, "__metadata__ is \(value.quoted(limit: 40)), not an object of strings")
            }
        }

        private static func tensor(_ name: String, _ value: JSONValue, dataSize: Int, path: String) throws -> TensorInfo {
            guard case .object(let fields) = value else {
                throw notSafeTensors(path, "tensor \(quotedName(name)) is \(value.quoted(limit: 40)), not an object with dtype, shape and data_offsets")
            }
            func field(_ key: String) throws -> JSONValue {
                guard let found = fields.first(where: { $0.key == key }) else { throw notSafeTensors(path, "tensor \(quotedName(name)) lacks \"\(key)\"") }
                return found.value
            }
            let dtypeValue = try field("dtype")
            guard case .string(let dtypeName) = dtypeValue else {
                throw notSafeTensors(path, "tensor \(quotedName(name)) has dtype \(dtypeValue.quoted()): it must be a string such as \"F32\"")
            }
            guard let dtype = DType(rawValue: dtypeName) else {
                throw notSafeTensors(path, "tensor \(quotedName(name)) has dtype \(dtypeValue.quoted()), which the safetensors format does not define "
                              + "(known: \(DType.allCases.map(\.rawValue).joined(separator: ", ")))")
            }
            let shapeValue = try field("shape")
            let badShape = notSafeTensors(path, "tensor \(quotedName(name)) has shape \(shapeValue.quoted()): dimensions must be non-negative integers below 2^64")
            guard case .array(let dimensionValues) = shapeValue else { throw badShape }
            let dimensions = dimensionValues.compactMap(unsignedInteger)
            guard dimensions.count == dimensionValues.count else { throw badShape }
            let offsetsValue = try field("data_offsets")
            guard case .array(let offsetValues) = offsetsValue, offsetValues.count == 2,
                  let begin = unsignedInteger(offsetValues[0]), let end = unsignedInteger(offsetValues[1]) else {
                throw notSafeTensors(path, "tensor \(quotedName(name)) has data_offsets \(offsetsValue.quoted()): they must be two non-negative integers below 2^64")
            }
            guard begin <= end else {
                throw notSafeTensors(path, "tensor \(quotedName(name)) has data_offsets \(offsetsValue.quoted()): the end comes before the beginning")
            }
            guard end <= UInt64(dataSize) else {
                throw notSafeTensors(path, "tensor \(quotedName(name)) has data offsets \(offsetsValue.quoted()) outside the \(dataSize) data bytes (truncated?)")
            }
            let byteCount = Int(end - begin)
            let described = "shape \(shapeValue.quoted()) of \(dtypeName)"
            // Checked arithmetic: a forged shape must give an error, not a wrapped size or a huge allocation.
            var elements: UInt64 = 1
            var overflow = false
            for d in dimensions where !overflow { (elements, overflow) = elements.multipliedReportingOverflow(by: d) }
            let (bits, bitsOverflow) = elements.multipliedReportingOverflow(by: UInt64(dtype.bitWidth))
            guard !overflow, !bitsOverflow else {
                throw notSafeTensors(path, "tensor \(quotedName(name)) has \(described): its size overflows 64 bits and does not match its \(byteCount) bytes")
            }
            guard bits % 8 == 0 else {
                throw notSafeTensors(path, "tensor \(quotedName(name)) has \(described): \(elements) elements of \(dtype.bitWidth) bits do not fill whole bytes")
            }
            guard bits / 8 == UInt64(byteCount) else {
                throw notSafeTensors(path, "tensor \(quotedName(name)) has \(byteCount) bytes for \(described) (\(bits / 8) bytes needed)")
            }
            // Only reachable with a zero dimension beside huge ones: valid for the format, but the other dimensions'
            // product must fit an Int, or code multiplying them would trap.
            guard dimensions.allSatisfy({ $0 <= UInt64(Int.max) }), representableElementCount(dimensions.map { Int($0) }) != nil else {
                throw notSafeTensors(path, "tensor \(quotedName(name)) has \(described): dimensions whose product exceeds \(Int.max) are not supported")
            }
            return TensorInfo(name: name, dtype: dtype, shape: dimensions.map { Int($0) }, elementCount: Int(elements),
                              dataOffsets: Int(begin)..<Int(end))
        }

        /// Sorted by offset, each tensor must start where the previous one ended and the last must end the file.
        private static func checkTiling(_ tensors: [TensorInfo], dataSize: Int, path: String) throws {
            var position = 0
            var previous: TensorInfo?
            for tensor in tensors {
                let range = tensor.dataOffsets
                if range.lowerBound > position {
                    let after = previous.map { " after tensor \(quotedName($0.name))" } ?? ""
                    throw notSafeTensors(path, "data bytes \(position)..<\(range.lowerBound)\(after) belong to no tensor "
                                  + "(tensor \(quotedName(tensor.name)) starts at \(range.lowerBound)); tensors must fill the data without gaps")
                }
                if range.lowerBound < position, let previous {
                    throw notSafeTensors(path, "tensor \(quotedName(tensor.name)) (data bytes \(range.lowerBound)..<\(range.upperBound)) overlaps tensor "
                                  + "\(quotedName(previous.name)) (data bytes \(previous.dataOffsets.lowerBound)..<\(previous.dataOffsets.upperBound))")
                }
                position = range.upperBound
                previous = tensor
            }
            guard position == dataSize else {
                throw notSafeTensors(path, "\(dataSize - position) trailing bytes after the last tensor's data (which ends at data byte "
                              + "\(position) of \(dataSize)); the format allows none")
            }
        }
    }
}

/// A JSON integer literal in 0..<2^64, read exactly from its text (no sign, fraction or exponent).
private func unsignedInteger(_ value: JSONValue) -> UInt64? {
    guard case .number(let literal) = value, literal.utf8.allSatisfy({ (0x30...0x39).contains($0) }) else { return nil }
    return UInt64(literal)
}

func notSafeTensors(_ path: String, _ why: String) -> VAEDistError {
    VAEDistError("\(path): not a valid safetensors file: \(why)")
}

/// A name for an error message, in quotes, escaped (`printable`) and cut if long: a forged header must not turn
/// into a huge message or write control characters to the terminal.
func quotedName(_ name: String) -> String {
    "'" + printable(name.count <= 200 ? name : name.prefix(200) + "…") + "'"
}
