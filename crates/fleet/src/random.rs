//! The one place randomness enters the crate: lease owner tokens and instance suffixes.
//!
//! Tokens come from the operating system's generator (`getrandom`). A token derived from the
//! process id and the time could be guessed or repeated by another process, and whoever holds a
//! lease's token may renew or release it. This module does nothing else.

/// `n_bytes` random bytes from the operating system, as lowercase hex.
///
/// Falls back to a hash of the time, the process id and a counter only when the operating system
/// refuses (which Linux does not do after boot); the fallback is still unique per process.
pub(crate) fn random_hex(n_bytes: usize) -> String {
    let mut bytes = vec![0_u8; n_bytes];
    if getrandom::fill(&mut bytes).is_err() {
        fallback_fill(&mut bytes);
    }
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

fn fallback_fill(bytes: &mut [u8]) {
    use std::hash::{BuildHasher, Hasher};
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    for chunk in bytes.chunks_mut(8) {
        let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
        hasher.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
        hasher.write_u32(std::process::id());
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |elapsed| elapsed.as_nanos());
        hasher.write_u128(nanos);
        let value = hasher.finish().to_le_bytes();
        chunk.copy_from_slice(&value[..chunk.len()]);
    }
}
