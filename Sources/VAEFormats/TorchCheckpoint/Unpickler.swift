import Foundation
import VAECore

/// A restricted unpickler: it reads the opcodes of pickle protocols 0–5 that state dicts use and builds
/// `PickleValue`s. It never imports or calls anything: globals, REDUCE and persistent ids go through
/// `TorchPickleRules`, which models the few callables a state dict needs and marks every other one refused.
struct Unpickler {
    private let bytes: [UInt8]
    private let context: String
    private var position = 0
    private var stack: [PickleValue] = []
    private var marks: [Int] = []
    private var memo: [Int: PickleValue] = [:]
    let heap = PickleHeap()
    private let rules: TorchPickleRules

    /// `context` names the pickle in errors (e.g. "model.ckpt: data.pkl").
    init(_ bytes: [UInt8], context: String, rules: TorchPickleRules) {
        self.bytes = bytes
        self.context = context
        self.rules = rules
    }

    private func fail(_ why: String) -> VAEDistError {
        VAEDistError("\(context): \(why) at byte \(position) (corrupt or not a PyTorch checkpoint)")
    }

    // MARK: reading the stream

    private mutating func take(_ count: Int) throws -> ArraySlice<UInt8> {
        guard count >= 0, count <= bytes.count - position else { throw fail("the pickle ends early") }
        defer { position += count }
        return bytes[position..<position + count]
    }

    private mutating func unsigned(_ width: Int) throws -> Int {
        var value: UInt64 = 0
        for (i, byte) in try take(width).enumerated() { value |= UInt64(byte) << (8 * UInt64(i)) }
        guard value <= UInt64(Int.max) else { throw fail("a length of \(value) bytes") }
        return Int(value)
    }

    private mutating func line() throws -> String {
        guard let end = bytes[position...].firstIndex(of: 0x0A) else { throw fail("a text argument lacks its newline") }
        defer { position = end + 1 }
        return String(decoding: bytes[position..<end], as: UTF8.self)
    }

    private mutating func utf8(_ count: Int) throws -> String {
        guard let s = String(validating: try take(count), as: UTF8.self) else { throw fail("a string is not UTF-8") }
        return s
    }

    // MARK: the stack

    private mutating func pop() throws -> PickleValue {
        guard stack.count > (marks.last ?? 0), let value = stack.popLast() else { throw fail("the stack underflows") }
        return value
    }

    private mutating func popToMark() throws -> [PickleValue] {
        guard let mark = marks.popLast() else { throw fail("no MARK for an opcode that needs one") }
        defer { stack.removeSubrange(mark...) }
        return Array(stack[mark...])
    }

    private func top() throws -> PickleValue {
        guard stack.count > (marks.last ?? 0), let value = stack.last else { throw fail("the stack underflows") }
        return value
    }

    private mutating func popTuple(_ count: Int) throws -> PickleValue {
        var items = [PickleValue](repeating: .none, count: count)
        for i in stride(from: count - 1, through: 0, by: -1) { items[i] = try pop() }
        return heap.newTuple(items)
    }

    private func append(_ items: [PickleValue], to target: PickleValue) throws {
        switch target {
        case .list(let i): heap.lists[i].append(contentsOf: items)
        case .opaque, .refused: break
        default: throw fail("APPEND to \(target.kind)")
        }
    }

    private func setItems(_ items: [PickleValue], in target: PickleValue) throws {
        guard items.count % 2 == 0 else { throw fail("SETITEMS with an odd number of items") }
        switch target {
        case .dict(let d):
            for i in stride(from: 0, to: items.count, by: 2) { heap.dicts[d].set(items[i], items[i + 1]) }
        case .opaque, .refused: break
        default: throw fail("SETITEM on \(target.kind)")
        }
    }

    private func memoGet(_ index: Int) throws -> PickleValue {
        guard let value = memo[index] else { throw fail("memo entry \(index) is read before it is written") }
        return value
    }

    private func integer(littleEndian bytes: ArraySlice<UInt8>) -> PickleValue {
        guard bytes.count <= 8 else {
            // Wider than 64 bits: representable only when the high bytes are pure sign extension.
            let low = bytes.prefix(8), high = bytes.dropFirst(8)
            let sign: UInt8 = (low.last ?? 0) & 0x80 != 0 ? 0xFF : 0
            return high.allSatisfy({ $0 == sign }) ? integer(littleEndian: low) : .largeInt
        }
        var value: UInt64 = 0
        for (i, byte) in bytes.enumerated() { value |= UInt64(byte) << (8 * UInt64(i)) }
        if let last = bytes.last, last & 0x80 != 0, bytes.count < 8 { value |= ~0 << (8 * UInt64(bytes.count)) }
        return .int(Int(Int64(bitPattern: value)))
    }

    // MARK: running

    /// Runs the pickle to its STOP and returns the value it built.
    mutating func load() throws -> PickleValue {
        while true {
            let opcode = try take(1).first!
            switch opcode {
            case 0x80: _ = try take(1)                                          // PROTO
            case 0x95: _ = try take(8)                                          // FRAME: framing is not needed
            case 0x2E:                                                          // STOP
                let result = try pop()
                guard marks.isEmpty else { throw fail("a MARK is left open at STOP") }
                return result
            case 0x28: marks.append(stack.count)                                // MARK
            case 0x30: _ = try pop()                                            // POP
            case 0x31: _ = try popToMark()                                      // POP_MARK
            case 0x32: stack.append(try top())                                  // DUP
            case 0x4E: stack.append(.none)                                      // NONE
            case 0x88: stack.append(.bool(true))                                // NEWTRUE
            case 0x89: stack.append(.bool(false))                               // NEWFALSE
            case 0x4A: stack.append(integer(littleEndian: try take(4)))         // BININT
            case 0x4B: stack.append(.int(try unsigned(1)))                      // BININT1
            case 0x4D: stack.append(.int(try unsigned(2)))                      // BININT2
            case 0x8A: stack.append(integer(littleEndian: try take(try unsigned(1))))  // LONG1
            case 0x8B: stack.append(integer(littleEndian: try take(try unsigned(4))))  // LONG4
            case 0x49:                                                          // INT (protocol 0)
                let text = try line()
                if text == "00" || text == "01" { stack.append(.bool(text == "01")); break }
                guard let value = Int(text) else { throw fail("INT '\(printable(String(text.prefix(40))))'") }
                stack.append(.int(value))
            case 0x47:                                                          // BINFLOAT: big-endian double
                var bits: UInt64 = 0
                for byte in try take(8) { bits = bits << 8 | UInt64(byte) }
                stack.append(.float(Double(bitPattern: bits)))
            case 0x58: stack.append(.string(try utf8(try unsigned(4))))         // BINUNICODE
            case 0x8C: stack.append(.string(try utf8(try unsigned(1))))         // SHORT_BINUNICODE
            case 0x8D: stack.append(.string(try utf8(try unsigned(8))))         // BINUNICODE8
            case 0x55, 0x54:                                                    // SHORT_BINSTRING, BINSTRING (Python 2)
                let text = try take(try unsigned(opcode == 0x55 ? 1 : 4))
                stack.append(.string(String(decoding: text, as: UTF8.self)))
            case 0x43, 0x42, 0x8E:                                              // SHORT_BINBYTES, BINBYTES, BINBYTES8
                _ = try take(try unsigned(opcode == 0x43 ? 1 : opcode == 0x42 ? 4 : 8))
                stack.append(.bytes)
            case 0x29: stack.append(heap.newTuple([]))                          // EMPTY_TUPLE
            case 0x74: stack.append(heap.newTuple(try popToMark()))             // TUPLE
            case 0x85: stack.append(try popTuple(1))                            // TUPLE1
            case 0x86: stack.append(try popTuple(2))                            // TUPLE2
            case 0x87: stack.append(try popTuple(3))                            // TUPLE3
            case 0x5D, 0x8F: stack.append(heap.newList())                       // EMPTY_LIST, EMPTY_SET (sets as lists)
            case 0x6C, 0x91: stack.append(heap.newList(try popToMark()))        // LIST, FROZENSET
            case 0x61:                                                          // APPEND
                let item = try pop()
                try append([item], to: try top())
            case 0x65, 0x90:                                                    // APPENDS, ADDITEMS
                let items = try popToMark()
                try append(items, to: try top())
            case 0x7D: stack.append(heap.newDict())                             // EMPTY_DICT
            case 0x64:                                                          // DICT
                let items = try popToMark()
                let dict = heap.newDict()
                try setItems(items, in: dict)
                stack.append(dict)
            case 0x73:                                                          // SETITEM
                let value = try pop(), key = try pop()
                try setItems([key, value], in: try top())
            case 0x75:                                                          // SETITEMS
                let items = try popToMark()
                try setItems(items, in: try top())
            case 0x63:                                                          // GLOBAL: "module\nname\n"
                let module = try line(), name = try line()
                stack.append(rules.global(module: module, name: name))
            case 0x93:                                                          // STACK_GLOBAL
                let name = try pop(), module = try pop()
                guard case .string(let m) = module, case .string(let n) = name else {
                    throw fail("STACK_GLOBAL with \(module.kind) and \(name.kind) instead of strings")
                }
                stack.append(rules.global(module: m, name: n))
            case 0x69:                                                          // INST: a class called on marked args
                let module = try line(), name = try line()
                _ = try popToMark()
                stack.append(rules.global(module: module, name: name).calledOpaquely)
            case 0x6F:                                                          // OBJ
                let items = try popToMark()
                guard let callable = items.first else { throw fail("OBJ without a class") }
                stack.append(callable.calledOpaquely)
            case 0x52:                                                          // REDUCE
                let arguments = try pop(), callable = try pop()
                stack.append(try rules.call(callable, arguments, heap: heap, context: context))
            case 0x81:                                                          // NEWOBJ: cls.__new__(cls, *args)
                _ = try pop()
                stack.append(try pop().calledOpaquely)
            case 0x92:                                                          // NEWOBJ_EX
                _ = try pop(); _ = try pop()
                stack.append(try pop().calledOpaquely)
            case 0x62:                                                          // BUILD: state for the object below
                let state = try pop()
                try rules.build(try top(), state: state, context: context)
            case 0x51:                                                          // BINPERSID
                let id = try pop()
                stack.append(try rules.persistentLoad(id, heap: heap, context: context))
            case 0x71: memo[try unsigned(1)] = try top()                        // BINPUT
            case 0x72: memo[try unsigned(4)] = try top()                        // LONG_BINPUT
            case 0x94: memo[memo.count] = try top()                             // MEMOIZE
            case 0x70:                                                          // PUT (protocol 0)
                guard let index = Int(try line()) else { throw fail("PUT without an index") }
                memo[index] = try top()
            case 0x68: stack.append(try memoGet(try unsigned(1)))               // BINGET
            case 0x6A: stack.append(try memoGet(try unsigned(4)))               // LONG_BINGET
            case 0x67:                                                          // GET (protocol 0)
                guard let index = Int(try line()) else { throw fail("GET without an index") }
                stack.append(try memoGet(index))
            default:
                position -= 1
                throw fail(String(format: "pickle opcode 0x%02X is not supported in a checkpoint", opcode))
            }
        }
    }
}

extension PickleValue {
    /// What calling this value builds when the reader does not model the call: nothing is run.
    var calledOpaquely: PickleValue {
        switch self {
        case .refused(let name): return .refused(name)
        case .global(let name), .opaque(let name): return .opaque(name)
        default: return .opaque(kind)
        }
    }
}
