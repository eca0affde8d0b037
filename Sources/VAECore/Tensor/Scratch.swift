/// Reusable scratch buffers for the temporaries of one layer call (Winograd's transformed tiles): grown on
/// demand and kept, so that they are faulted in once rather than at every call. Buffers above malloc's mmap
/// threshold would otherwise come fresh from the kernel each time, zeroed page by page.
/// Each `ComputeContext` has one set; its layer calls run one at a time, so one set serves them all.
public final class Scratch {
    private var slots: [(pointer: UnsafeMutablePointer<Float>, capacity: Int)] = []

    init() {}

    deinit { for slot in slots { slot.pointer.deallocate() } }

    /// Slot `slot`, at least `count` floats; its contents are undefined and valid until the slot is asked again.
    public func buffer(_ slot: Int, count: Int) -> UnsafeMutablePointer<Float> {
        while slots.count <= slot { slots.append((.allocate(capacity: 1), 1)) }
        if slots[slot].capacity < count {
            slots[slot].pointer.deallocate()
            slots[slot] = (.allocate(capacity: count), count)
        }
        return slots[slot].pointer
    }
}
