import Foundation

/// How the math runs: threads per parallel loop, which kernels, the scratch memory of layer calls and the record
/// of time by kind of work. The launcher makes one from its flags and the environment and hands it to the model
/// (`AutoencoderKL(_:arithmetic:context:)`), which binds it on its thread for each of its calls (`run`); the jobs
/// run their own loops (optimizer, metrics, image decoding) under it too. The kernels below the model read the
/// context bound on their thread (`current`: `parallelFor`, `Profile.measure`, the Winograd convolutions), so
/// their signatures stay small and two contexts (AVX2 and AVX-512 kernels, 1 or 4 threads) can run in one process.
///
/// `@unchecked Sendable`: a context serves one call at a time (the layers reuse its scratch; the profile adds up
/// without locks), on the thread that bound it. `parallelFor`'s parts see it bound too, but only read its settings.
public final class ComputeContext: @unchecked Sendable {
    /// Threads of each `parallelFor` region (OpenBLAS itself stays single-threaded, `sgemm`).
    public let threads: Int
    /// The Winograd transforms' and products' kernels.
    public let kernels: TransformKernels
    /// The reusable buffers of one layer call.
    public let scratch = Scratch()
    /// Time by kind of work, for `vae-dist bench`; off unless enabled.
    public let profile = Profile()

    /// `kernels` by default those of `standard`, so that `VAE_DIST_KERNELS` chooses for tests too.
    public init(threads: Int = ProcessInfo.processInfo.activeProcessorCount, kernels: TransformKernels = standard.kernels) {
        self.threads = max(1, threads)
        self.kernels = kernels
    }

    /// The context of work that no one bound one for (tests, tools): every core, the kernels `VAE_DIST_KERNELS`
    /// names, else the widest (the launcher refuses an invalid value through `TransformKernels.fromEnvironment`).
    public static let standard = ComputeContext(threads: ProcessInfo.processInfo.activeProcessorCount,
                                                kernels: (try? TransformKernels.fromEnvironment()) ?? .widest)

    /// The context bound on this thread (`run`), else `standard`.
    public static var current: ComputeContext {
        guard let bound = pthread_getspecific(key) else { return standard }
        return Unmanaged<ComputeContext>.fromOpaque(bound).takeUnretainedValue()
    }

    /// Runs `body` with this context bound on the calling thread; the context bound before is bound again after.
    @inline(__always)
    public func run<T>(_ body: () throws -> T) rethrows -> T {
        let outer = pthread_getspecific(Self.key)
        pthread_setspecific(Self.key, Unmanaged.passUnretained(self).toOpaque())
        defer { pthread_setspecific(Self.key, outer) }
        // Unretained while bound: `self` lives at least until the binding is undone.
        return try withExtendedLifetime(self) { try body() }
    }

    /// The thread-local slot of the bound context, made once.
    private static let key: pthread_key_t = {
        var key = pthread_key_t()
        precondition(pthread_key_create(&key, nil) == 0, "no thread-local key left for the compute context")
        return key
    }()
}
