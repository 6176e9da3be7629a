//! Failed console sign-ins, counted per client address: after [`MAX_FAILURES`] in a
//! [`WINDOW`], that address may not try again until the window is over, whatever key it sends
//! (a right key included, so that guessing learns nothing while the address is held).
//!
//! API keys are long random strings, so this is not what keeps them safe; it keeps a sign-in
//! form from being a free guessing oracle, and guessing from filling the log. Behind a reverse
//! proxy every client has the proxy's address: the limit then applies to all of them together,
//! which is the safe way round (the forwarded address is whatever the client writes).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Failed sign-ins an address may make in a window.
pub(super) const MAX_FAILURES: u32 = 10;
/// The window failures are counted in.
pub(super) const WINDOW: Duration = Duration::from_secs(60);
/// Addresses remembered at most (beyond it, the ones whose window is over are forgotten, then
/// all: a flood of addresses must not grow memory without bound).
const MAX_ADDRESSES: usize = 10_000;

/// Failed sign-ins per address: how many, and when its window began.
#[derive(Default)]
pub(crate) struct SignInLimit {
    failures: Mutex<HashMap<IpAddr, (u32, Instant)>>,
}

impl SignInLimit {
    /// How long `address` must wait before trying again; `None` when it may try now.
    pub(super) fn wait(&self, address: IpAddr, now: Instant) -> Option<Duration> {
        let failures = self.lock();
        let (count, since) = failures.get(&address)?;
        let over = *since + WINDOW;
        (*count >= MAX_FAILURES && now < over).then(|| over - now)
    }

    /// Counts a failed sign-in from `address`.
    pub(super) fn failed(&self, address: IpAddr, now: Instant) {
        let mut failures = self.lock();
        if failures.len() >= MAX_ADDRESSES && !failures.contains_key(&address) {
            failures.retain(|_, (_, since)| now < *since + WINDOW);
            if failures.len() >= MAX_ADDRESSES {
                failures.clear();
            }
        }
        let entry = failures.entry(address).or_insert((0, now));
        if now >= entry.1 + WINDOW {
            *entry = (0, now);
        }
        entry.0 = entry.0.saturating_add(1);
    }

    /// Forgets `address`'s failures (it signed in).
    pub(super) fn succeeded(&self, address: IpAddr) {
        self.lock().remove(&address);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<IpAddr, (u32, Instant)>> {
        // Counters only: a panic elsewhere while holding the lock leaves them usable.
        self.failures
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_is_held_after_too_many_failures_until_its_window_is_over() {
        let limit = SignInLimit::default();
        let (guesser, other) = ([192, 0, 2, 1].into(), [192, 0, 2, 2].into());
        let start = Instant::now();
        for _ in 0..MAX_FAILURES - 1 {
            limit.failed(guesser, start);
        }
        assert_eq!(limit.wait(guesser, start), None, "one more try left");
        limit.failed(guesser, start);
        assert_eq!(limit.wait(guesser, start), Some(WINDOW));
        let later = start + Duration::from_secs(45);
        assert_eq!(limit.wait(guesser, later), Some(Duration::from_secs(15)));
        assert_eq!(
            limit.wait(other, later),
            None,
            "other addresses are not held"
        );
        assert_eq!(
            limit.wait(guesser, start + WINDOW),
            None,
            "the window is over"
        );
        limit.failed(guesser, start + WINDOW);
        assert_eq!(
            limit.wait(guesser, start + WINDOW),
            None,
            "a new window counts from one"
        );
    }

    #[test]
    fn a_success_forgets_the_failures_and_a_flood_of_addresses_is_bounded() {
        let limit = SignInLimit::default();
        let address: IpAddr = [198, 51, 100, 7].into();
        let now = Instant::now();
        for _ in 0..MAX_FAILURES - 1 {
            limit.failed(address, now);
        }
        limit.succeeded(address);
        limit.failed(address, now);
        assert_eq!(limit.wait(address, now), None);
        for i in 0..(MAX_ADDRESSES as u32 + 5) {
            limit.failed(IpAddr::from(i.to_be_bytes()), now);
        }
        assert!(limit.lock().len() <= MAX_ADDRESSES);
    }
}
