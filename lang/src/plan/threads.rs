//! The threads recipes are evaluated on: a rayon pool of hit-lang's own, one per core,
//! each with a large stack and its own Rhai engine.
//!
//! - The stack: scripts can build values nested some 10,000 deep before Rhai's size limits
//!   stop them, and Rhai clones, measures and drops them recursively; rayon's default stack
//!   is not enough (the `hit` binary runs commands on a thread as big for the same reason).
//!   Stacks are reserved, not used, until needed.
//! - The engine: one [`Evaluator`] per thread, made on first use. A shared engine does not
//!   scale (measured: one per thread gave 1.9x on 2 cores, a shared one nothing).

use crate::engine::Evaluator;
use std::sync::OnceLock;

/// The stack of each evaluation thread.
const STACK_BYTES: usize = 256 << 20;

/// hit-lang's evaluation pool (made on first use).
pub(super) fn pool() -> &'static rayon::ThreadPool {
    static POOL: OnceLock<rayon::ThreadPool> = OnceLock::new();
    POOL.get_or_init(|| {
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .stack_size(STACK_BYTES)
            .thread_name(|index| format!("hit-eval-{index}"))
            .build()
            .unwrap_or_else(|_| {
                // No threads to be had: evaluate on the caller's.
                rayon::ThreadPoolBuilder::new()
                    .use_current_thread()
                    .num_threads(1)
                    .build()
                    .expect("a pool on the current thread needs no new thread")
            })
    })
}

thread_local! {
    static EVALUATOR: Evaluator = Evaluator::new();
}

/// Runs `f` with this thread's evaluator.
pub(super) fn with_evaluator<R>(f: impl FnOnce(&Evaluator) -> R) -> R {
    EVALUATOR.with(f)
}
