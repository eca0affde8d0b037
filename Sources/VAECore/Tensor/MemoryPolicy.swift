import CMalloc

/// glibc returns freed memory to the kernel eagerly (large blocks are unmapped, the heap top is trimmed), and a
/// training step re-allocates the same buffers every time: each comes back as fresh pages, faulted and zeroed
/// by the kernel, which took over a quarter of a step. Keeping freed memory in the heap lets the next step reuse
/// it. Blocks up to 32 MiB (glibc's largest mmap threshold) come from the heap; larger temporaries use `Scratch`.
public enum MemoryPolicy {
    public static func keepFreedMemory() {
        _ = mallopt(vd_m_mmap_threshold, 32 << 20)
        _ = mallopt(vd_m_trim_threshold, Int32.max)
    }
}
