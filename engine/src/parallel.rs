//! A list of items over a fixed set of workers, each owning its state (a smoother and its
//! buffers, an online certifier and its pool), results in item order.
//!
//! Written here rather than with rayon's `map_init` because the states are made once, before
//! any work (so a bad contract fails before the first clip), and there must be exactly one per
//! thread: an online certifier starts its own worker threads, which `map_init` would start
//! again for every split of the work. Items are handed out one at a time from a shared counter,
//! so a slow clip never holds up a fixed share of the list.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

/// `f(state, index, item)` for every item, on one thread per state; returns the results in item
/// order. A panic in `f` is re-raised here.
pub fn map_with_states<S, T, R, F>(states: Vec<S>, items: &[T], f: F) -> Vec<R>
where
    S: Send,
    T: Sync,
    R: Send,
    F: Fn(&mut S, usize, &T) -> R + Sync,
{
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<R>>> = Mutex::new((0..items.len()).map(|_| None).collect());
    std::thread::scope(|s| {
        for mut state in states {
            let (next, results, f) = (&next, &results, &f);
            s.spawn(move || loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= items.len() {
                    break;
                }
                let r = f(&mut state, i, &items[i]);
                // A poisoned lock only follows a panicking worker, which the scope re-raises.
                results.lock().unwrap_or_else(std::sync::PoisonError::into_inner)[i] = Some(r);
            });
        }
    });
    results
        .into_inner()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .into_iter()
        .map(|r| r.expect("every item is taken by a worker: at least one state is needed"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_keep_item_order_and_every_state_works() {
        let items: Vec<u64> = (0..200).collect();
        let out = map_with_states(vec![0usize; 3], &items, |seen, i, &x| {
            *seen += 1;
            (i as u64, x * x)
        });
        assert_eq!(out.len(), 200);
        assert!(out.iter().enumerate().all(|(i, &(j, sq))| j == i as u64 && sq == (i * i) as u64));
    }

    #[test]
    #[should_panic(expected = "at least one state")]
    fn no_state_is_refused() {
        let _ = map_with_states(Vec::<()>::new(), &[1, 2], |_, _, &x: &i32| x);
    }
}
