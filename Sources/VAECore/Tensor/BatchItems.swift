extension Tensor {
    /// The batch's items, [1, …] each, as views of this tensor's memory (which they keep alive).
    public var batchItems: [Tensor] {
        let n = shape.first ?? 0, perItem = n == 0 ? 0 : count / n
        return (0..<n).map { Tensor(viewing: data + $0 * perItem, shape: [1] + shape.dropFirst(), owner: self) }
    }

    /// Items [1, …] of one shape joined into a batch [N, …] (a copy).
    public convenience init(joining items: [Tensor]) {
        let itemShape = items.first?.shape ?? []
        precondition(itemShape.first == 1 && items.allSatisfy { $0.shape == itemShape },
                     "items to join must share one shape [1, …], got \(items.map(\.shape))")
        self.init(uninitializedShape: [items.count] + itemShape.dropFirst())
        for (n, item) in items.enumerated() { (data + n * item.count).update(from: item.data, count: item.count) }
    }
}
