/// Finds refused (or otherwise unwanted) globals in an unpickled value and says where they sit, e.g. `["callbacks"]["x"]`.
enum PickleSearch {
    /// The first refused global reachable from `root` (breadth first) with its key path, or one anywhere in the
    /// heap (path nil) when only unreachable values hold one.
    static func firstRefused(from root: PickleValue, heap: PickleHeap) -> (global: String, path: String?)? {
        let refused = { (value: PickleValue) -> String? in if case .refused(let name) = value { return name } else { return nil } }
        if let found = firstReachable(from: root, heap: heap, where: refused) { return (found.global, found.path) }
        let containers = heap.tuples + heap.lists + heap.dicts.map { $0.items.flatMap { [$0.key, $0.value] } }
        for value in containers.joined() {
            if let name = refused(value) { return (name, nil) }
        }
        return nil
    }

    /// The first value reachable from `root` (breadth first) for which `global` names a global, with that name and
    /// the value's key path from `root`.
    static func firstReachable(from root: PickleValue, heap: PickleHeap,
                               where global: (PickleValue) -> String?) -> (global: String, path: String)? {
        // Each visit records its parent and its key, so that only the path found is ever spelled out.
        var visits: [(value: PickleValue, parent: Int, label: String)] = [(root, -1, "")]
        var seenTuples = Set<Int>(), seenLists = Set<Int>(), seenDicts = Set<Int>()
        var next = 0
        while next < visits.count {
            let at = next, value = visits[next].value
            next += 1
            if let name = global(value) { return (name, path(to: at, in: visits)) }
            switch value {
            case .tuple(let i) where seenTuples.insert(i).inserted:
                visits += heap.tuples[i].enumerated().map { ($1, at, "[\($0)]") }
            case .list(let i) where seenLists.insert(i).inserted:
                visits += heap.lists[i].enumerated().map { ($1, at, "[\($0)]") }
            case .dict(let i) where seenDicts.insert(i).inserted:
                for (key, item) in heap.dicts[i].items {
                    let label: String
                    switch key {
                    case .string(let s): label = "[\"\(s)\"]"
                    case .int(let n): label = "[\(n)]"
                    default: label = "[\(key.kind)]"
                    }
                    visits.append((key, at, label))
                    visits.append((item, at, label))
                }
            default: break
            }
        }
        return nil
    }

    /// "the key path [\"a\"][0]"; a hostile nesting shows only its last keys.
    private static func path(to index: Int, in visits: [(value: PickleValue, parent: Int, label: String)]) -> String {
        var labels: [String] = []
        var at = index
        while at > 0 {
            labels.append(visits[at].label)
            at = visits[at].parent
        }
        if labels.isEmpty { return "the top level" }
        let shown = labels.prefix(12).reversed().joined()
        return "the key path " + (labels.count > 12 ? "…" : "") + shown
    }
}
