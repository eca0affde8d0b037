/// A value of the restricted unpickler. Containers live in a `PickleHeap` and are referred to by index, so that
/// values are flat: memo sharing behaves like Python's object identity, and no nesting depth a hostile file
/// builds can overflow the stack when values are compared, walked or freed.
enum PickleValue {
    case none
    case bool(Bool)
    case int(Int)
    /// An integer wider than 64 bits: nothing a state dict needs, kept opaque.
    case largeInt
    case float(Double)
    case string(String)
    case bytes
    case tuple(Int)
    case list(Int)
    case dict(Int)
    /// A global the reader knows (a storage type, a rebuild function), by its "module.name".
    case global(String)
    /// What a known harmless global (numpy scalars in Lightning callbacks, …) would have built: not modelled.
    case opaque(String)
    /// A global outside the allow-list, by name; it is never called, and the file is refused.
    case refused(String)
    case storage(TorchStorageReference)
    case tensor(TorchTensorReference)

    /// For error messages.
    var kind: String {
        switch self {
        case .none: return "None"
        case .bool: return "a bool"
        case .int, .largeInt: return "an int"
        case .float: return "a float"
        case .string: return "a string"
        case .bytes: return "bytes"
        case .tuple: return "a tuple"
        case .list: return "a list"
        case .dict: return "a dict"
        case .global(let name): return printable(name)
        case .opaque(let name): return "a value built by \(printable(name))"
        case .refused(let name): return "a value built by \(printable(name))"
        case .storage: return "a storage"
        case .tensor: return "a tensor"
        }
    }
}

/// The containers the pickle builds (lists and dicts grow after they are memoized, so they are shared by index).
final class PickleHeap {
    var tuples: [[PickleValue]] = []
    var lists: [[PickleValue]] = []
    var dicts: [PickleDict] = []

    func newTuple(_ items: [PickleValue]) -> PickleValue {
        tuples.append(items)
        return .tuple(tuples.count - 1)
    }

    func newList(_ items: [PickleValue] = []) -> PickleValue {
        lists.append(items)
        return .list(lists.count - 1)
    }

    func newDict() -> PickleValue {
        dicts.append(PickleDict())
        return .dict(dicts.count - 1)
    }

    /// The items of a tuple, or nil when `value` is not one.
    func tupleItems(_ value: PickleValue) -> [PickleValue]? {
        if case .tuple(let i) = value { return tuples[i] }
        return nil
    }
}

/// A dict in insertion order; string and int keys replace an earlier equal key as in Python.
struct PickleDict {
    private enum Key: Hashable {
        case string(String)
        case int(Int)
    }

    private(set) var items: [(key: PickleValue, value: PickleValue)] = []
    private var index: [Key: Int] = [:]

    private static func hashable(_ key: PickleValue) -> Key? {
        switch key {
        case .string(let s): return .string(s)
        case .int(let i): return .int(i)
        default: return nil
        }
    }

    mutating func set(_ key: PickleValue, _ value: PickleValue) {
        if let k = Self.hashable(key) {
            if let at = index[k] {
                items[at].value = value
                return
            }
            index[k] = items.count
        }
        items.append((key, value))
    }

    subscript(key: String) -> PickleValue? {
        index[.string(key)].map { items[$0].value }
    }
}
