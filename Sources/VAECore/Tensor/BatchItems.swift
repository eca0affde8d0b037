extension Tensor {
    /// Items [1, …] of one shape joined into a batch [N, …] (a copy).
    public convenience init(joining items: [Tensor]) {
        let itemShape = items.first?.shape ?? []
        precondition(itemShape.first == 1 && items.allSatisfy { $0.shape == itemShape },
                     "items to join must share one shape [1, …], got \(items.map(\.shape))")
        self.init(uninitializedShape: [items.count] + itemShape.dropFirst())
        for (n, item) in items.enumerated() { (data + n * item.count).update(from: item.data, count: item.count) }
    }
}
