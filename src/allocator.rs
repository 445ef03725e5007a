//! What the process asks of the memory allocator, before anything else
//! runs (SPEC §8: peak RSS under 64 MiB on 1 GiB of input).
//!
//! Batches hold their bodies and the messages' original text in buffers of
//! several MiB, a few alive at once while one request is in flight. glibc
//! starts by mmapping blocks that large, but after the first one is freed
//! it raises its mmap threshold to that size (up to 32 MiB), so later ones
//! come from the heap, where they fragment it and stay resident after they
//! are freed. Measured on 1 GiB with an API token (BENCHMARKS.md): 61–65
//! MiB peak with the moving threshold, 54 MiB with it held at 512 KiB.
//! Not lower: the input's line chunks (256 KiB, `input::lines`) come and go
//! thousands of times a second, and mmapping each of them, as glibc's
//! default of 128 KiB would, doubles the system time of a `validate`.

/// Holds glibc's mmap threshold at 512 KiB, so large blocks always go back
/// to the system when freed. A no-op on other allocators.
pub fn tune() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    hold_mmap_threshold();
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
fn hold_mmap_threshold() {
    const THRESHOLD: libc::c_int = 512 * 1024;
    // SAFETY: mallopt only sets a parameter of the allocator and takes no
    // pointers; it is called from `main` before any other thread exists.
    // A refusal (it returns 0) leaves glibc's defaults, which still work.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, THRESHOLD);
    }
}
