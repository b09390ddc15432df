//! The sentinel lease: a master stops confirming writes before the
//! sentinels can promote another server.
//!
//! Redoubt sentinels renew a lease on the master they watch, a few times
//! per lease period, with `REPLCONF sentinel-lease RUNID,VOTERS,MS,STAMP`:
//! the sentinel's run id, how many sentinels it knows for this master
//! (itself included), the lease length and STAMP, a reading of *this*
//! server's monotonic clock that the sentinel got in the reply to its
//! previous renewal. The grant runs until `STAMP + MS` (less a drift
//! margin) on our clock. Since the stamp was read before the sentinel sent
//! the grant, the lease is counted from no later than the sending, never
//! from its arrival: a grant delayed in the network (or retransmitted by
//! TCP after a partition heals) only arrives with less time left. A stamp
//! 0 is a probe: it asks for the clock and grants nothing.
//!
//! The master holds the lease while the grants of a majority of the
//! sentinels (the largest VOTERS any of them reported) run. When it does
//! not, writes are refused with `-NOREPLICAS` (as with
//! `min-replicas-to-write`) and `WAIT` reports no replica.
//!
//! While it holds, `WAIT` counts a replica's acknowledgement only once it
//! is *certified*: a majority of the sentinels renewed the lease with a
//! stamp taken after the acknowledgement arrived. A write acknowledged
//! only by a replica cut off with us, after the sentinels lost us, is
//! therefore never confirmed — not even in the moments before the lease
//! runs out. To keep `WAIT` fast, a master with waiting clients asks for
//! a renewal at once by publishing [`RENEW_REQUEST`] and its clock on
//! `__sentinel__:hello`, to which every sentinel is subscribed; the
//! sentinels answer with a grant stamped with that clock. The sentinels,
//! for their part, neither vote for a failover of this master nor start
//! one until their own last grant has run out (`sentinel::lease`), and a
//! failover needs the votes of a majority: two majorities of one set share
//! a sentinel, so no replica is promoted while this master can still
//! confirm a write. docs/ARCHITECTURE.md has the whole argument.
//!
//! A master that never received a grant (standalone, or watched by real
//! redis-sentinel, which knows nothing of this) is not fenced at all: it
//! behaves as Redis does. Becoming a replica forgets the lease.

use crate::server::Server;

/// Our clock for the lease: monotonic microseconds (see
/// `util::time::monotonic_us`). Stamps are readings of it; a sentinel
/// only echoes them. Microseconds, so an acknowledgement and a renewal
/// request in the same millisecond are still told apart.
pub fn clock() -> i64 {
    crate::util::time::monotonic_us()
}

/// [`clock`] ticks per millisecond (grant lengths come in milliseconds).
const PER_MS: i64 = 1000;

/// A grant runs for its length less this fraction (1/10): clocks of two
/// hosts may run at slightly different rates (real drift is below 1e-4).
const DRIFT_DIVISOR: i64 = 10;
/// Grants longer than this are taken as this long.
const MAX_LEASE_MS: i64 = 3_600_000;
/// A sentinel whose grant ran out this long ago is forgotten (a sentinel
/// removed with `SENTINEL RESET` stops counting eventually).
const FORGET_AFTER_MS: i64 = 60_000;
/// At most this many sentinels are remembered.
const MAX_GRANTS: usize = 128;

/// One `REPLCONF sentinel-lease` request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub sentinel: String,
    pub voters: u32,
    pub lease_ms: i64,
    pub stamp: i64,
}

impl Request {
    /// `RUNID,VOTERS,MS,STAMP`; None when malformed.
    pub fn parse(val: &[u8]) -> Option<Request> {
        let text = std::str::from_utf8(val).ok()?;
        let mut parts = text.split(',');
        let sentinel = parts.next().filter(|s| !s.is_empty())?.to_string();
        let voters: u32 = parts.next()?.parse().ok()?;
        let lease_ms: i64 = parts.next()?.parse().ok()?;
        let stamp: i64 = parts.next()?.parse().ok()?;
        // `RUNID,0,0,0` is a release (see [`Request::is_release`]).
        let release = voters == 0 && lease_ms == 0 && stamp == 0;
        if parts.next().is_some() || !release && (voters == 0 || lease_ms <= 0 || stamp < 0) {
            return None;
        }
        Some(Request {
            sentinel,
            voters,
            lease_ms: lease_ms.min(MAX_LEASE_MS),
            stamp,
        })
    }
}

impl Request {
    /// A sentinel that finds the Redoubt sentinels outnumbered in its
    /// group (so no majority can ever grant) releases the master: it is
    /// disarmed and behaves as Redis again.
    pub fn is_release(&self) -> bool {
        self.voters == 0
    }
}

#[derive(Debug, Clone)]
struct Grant {
    sentinel: String,
    /// Our [`clock`] at which it runs out.
    until: i64,
    /// The latest of our clock readings it came with: the sentinel heard
    /// from us at or after this.
    stamp: i64,
    voters: u32,
}

/// The grants this master holds.
#[derive(Debug, Default)]
pub struct Lease {
    /// Set by the first grant; until then nothing is fenced.
    armed: bool,
    grants: Vec<Grant>,
    /// What the cron last logged (true: held), to log each change once.
    pub logged_held: bool,
    /// Our clock when we last asked the sentinels for a renewal.
    requested_at: i64,
}

/// What INFO's `sentinel_lease` field says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// No Redoubt sentinel ever granted one: not fenced.
    Off,
    Held,
    Lapsed,
}

impl State {
    pub fn name(self) -> &'static str {
        match self {
            State::Off => "off",
            State::Held => "held",
            State::Lapsed => "lapsed",
        }
    }
}

impl Lease {
    /// Takes a grant at `now` (our monotonic ms). A probe, or a stamp that
    /// is not a past reading of our clock, grants nothing.
    pub fn grant(&mut self, r: &Request, now: i64) {
        if r.stamp == 0 || r.stamp > now {
            return;
        }
        let until = r.stamp + (r.lease_ms - r.lease_ms / DRIFT_DIVISOR) * PER_MS;
        self.armed = true;
        match self.grants.iter_mut().find(|g| g.sentinel == r.sentinel) {
            Some(g) => {
                g.until = g.until.max(until);
                g.stamp = g.stamp.max(r.stamp);
                g.voters = r.voters;
            }
            None => self.grants.push(Grant {
                sentinel: r.sentinel.clone(),
                until,
                stamp: r.stamp,
                voters: r.voters,
            }),
        }
        self.grants
            .retain(|g| now - g.until < FORGET_AFTER_MS * PER_MS);
        if self.grants.len() > MAX_GRANTS {
            self.grants.sort_by_key(|g| std::cmp::Reverse(g.until));
            self.grants.truncate(MAX_GRANTS);
        }
    }

    /// Whether writes may be confirmed at `now`: not armed, or the grants
    /// of a majority of the sentinels run. The group's size is the
    /// largest any of them reported, so a sentinel that knows fewer
    /// (discovery still under way) cannot shrink the majority.
    pub fn holds(&self, now: i64) -> bool {
        if !self.armed {
            return true;
        }
        let voters = self.grants.iter().map(|g| g.voters).max().unwrap_or(1);
        let live = self.grants.iter().filter(|g| g.until > now).count();
        live > voters as usize / 2
    }

    /// The latest time T such that a majority of the sentinels renewed
    /// the lease after hearing from us at T or later: an acknowledgement
    /// received at T or before is certified. None while the lease does
    /// not hold.
    pub fn certified_time(&self, now: i64) -> Option<i64> {
        if !self.armed || !self.holds(now) {
            return None;
        }
        let voters = self.grants.iter().map(|g| g.voters).max().unwrap_or(1);
        let mut stamps: Vec<i64> = self
            .grants
            .iter()
            .filter(|g| g.until > now)
            .map(|g| g.stamp)
            .collect();
        stamps.sort_unstable_by(|a, b| b.cmp(a));
        stamps.get(voters as usize / 2).copied()
    }

    pub fn state(&self, now: i64) -> State {
        if !self.armed {
            State::Off
        } else if self.holds(now) {
            State::Held
        } else {
            State::Lapsed
        }
    }

    /// Sentinels whose grant runs at `now`.
    pub fn live_grants(&self, now: i64) -> usize {
        self.grants.iter().filter(|g| g.until > now).count()
    }

    /// Forgets every grant and disarms (this server became a replica).
    pub fn reset(&mut self) {
        *self = Lease::default();
    }
}

/// A master under a lease: a Redoubt sentinel granted one since it last
/// became a master.
pub fn armed(srv: &Server) -> bool {
    srv.repl.lease.armed && !srv.is_replica()
}

/// Whether this master must refuse writes and report no replica to
/// `WAIT`: it holds a lease from Redoubt sentinels and it lapsed.
pub fn fenced(srv: &Server) -> bool {
    srv.repl.lease.armed && !srv.is_replica() && !srv.repl.lease.holds(clock())
}

/// `REPLCONF sentinel-lease VALUE`: takes the grant and answers our
/// monotonic clock, the stamp of the sentinel's next renewal. None: the
/// value is malformed.
pub fn on_request(srv: &mut Server, val: &[u8]) -> Option<i64> {
    let r = Request::parse(val)?;
    let now = clock();
    if r.is_release() {
        if srv.repl.lease.armed {
            crate::log_notice!(
                "Sentinel lease released by sentinel {}: the Redoubt sentinels are not a majority of the group; not fenced",
                r.sentinel
            );
            srv.repl.lease.reset();
            super::master::serve_waiters(srv, false);
        }
        return Some(now);
    }
    if !srv.is_replica() {
        srv.repl.lease.grant(&r, now);
        if let Some(t) = srv.repl.lease.certified_time(now) {
            srv.repl.feed.borrow_mut().certify(t);
            super::master::serve_waiters(srv, false);
        }
    }
    Some(now)
}

/// What a master publishes on the sentinels' hello channel to ask for a
/// renewal now, followed by its clock: a `WAIT` needs one after the
/// acknowledgements it counts. Real Redis Sentinel ignores it (a hello has
/// eight fields).
pub const RENEW_REQUEST: &str = "redoubt-lease-renew,";

/// When an acknowledgement received now counts as received (see
/// `master::ack`): after our last renewal request even when the clock
/// reads the same microsecond, since it did arrive after it.
pub fn ack_time(srv: &Server) -> i64 {
    clock().max(srv.repl.lease.requested_at + 1)
}

/// Asks the sentinels to renew now, with a stamp no earlier than
/// `not_before` (a time from [`ack_time`] or [`clock`]); nothing if such a
/// request went out already.
pub fn request_renewal(srv: &mut Server, not_before: i64) {
    if srv.repl.lease.requested_at >= not_before {
        return;
    }
    // At most a microsecond away (see `ack_time`).
    let mut now = clock();
    while now < not_before {
        std::hint::spin_loop();
        now = clock();
    }
    srv.repl.lease.requested_at = now;
    let msg = format!("{RENEW_REQUEST}{now}");
    srv.publish(b"__sentinel__:hello", msg.as_bytes());
}

/// From the cron: logs each change between held and lapsed once.
pub fn cron(srv: &mut Server) {
    if !srv.repl.lease.armed || srv.is_replica() {
        srv.repl.lease.logged_held = true;
        return;
    }
    let now = clock();
    let held = srv.repl.lease.holds(now);
    if held == srv.repl.lease.logged_held {
        return;
    }
    srv.repl.lease.logged_held = held;
    if held {
        crate::log_notice!(
            "Sentinel lease renewed by a majority of the sentinels: writes and WAIT confirmations resume"
        );
    } else {
        crate::log_warning!(
            "Sentinel lease lapsed (grants from {} sentinels): refusing writes and WAIT confirmations until a majority of the sentinels renews it",
            srv.repl.lease.live_grants(now)
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Times in these tests are in milliseconds; the lease clock counts
    /// microseconds.
    fn u(ms: i64) -> i64 {
        ms * PER_MS
    }

    /// A grant stamped `stamp` ms.
    fn req(who: &str, voters: u32, ms: i64, stamp: i64) -> Request {
        Request {
            sentinel: who.into(),
            voters,
            lease_ms: ms,
            stamp: u(stamp),
        }
    }

    fn parsed(who: &str, voters: u32, ms: i64, stamp: i64) -> Request {
        Request {
            sentinel: who.into(),
            voters,
            lease_ms: ms,
            stamp,
        }
    }

    #[test]
    fn parses_the_grant_and_refuses_malformed_ones() {
        assert_eq!(
            Request::parse(b"abc,3,1000,55"),
            Some(parsed("abc", 3, 1000, 55))
        );
        assert_eq!(
            Request::parse(b"abc,3,1000,0"),
            Some(parsed("abc", 3, 1000, 0))
        );
        assert!(Request::parse(b"abc,0,0,0").is_some_and(|r| r.is_release()));
        for bad in [
            &b""[..],
            b"abc",
            b"abc,3,1000",
            b",3,1000,5",
            b"abc,0,1000,5",
            b"abc,0,0,5",
            b"abc,3,0,5",
            b"abc,3,1000,-1",
            b"abc,3,1000,5,6",
            b"abc,x,1000,5",
        ] {
            assert_eq!(Request::parse(bad), None, "{:?}", bad);
        }
        assert_eq!(
            Request::parse(b"abc,3,99999999999,5").map(|r| r.lease_ms),
            Some(MAX_LEASE_MS)
        );
    }

    #[test]
    fn not_armed_never_fences() {
        let l = Lease::default();
        assert!(l.holds(u(0)));
        assert!(l.holds(i64::MAX));
        assert_eq!(l.state(u(5)), State::Off);
    }

    #[test]
    fn a_probe_grants_nothing_and_does_not_arm() {
        let mut l = Lease::default();
        l.grant(&req("a", 3, 1000, 0), u(100));
        assert_eq!(l.state(u(100)), State::Off);
    }

    #[test]
    fn a_stamp_from_the_future_grants_nothing() {
        let mut l = Lease::default();
        l.grant(&req("a", 1, 1000, 5000), u(4000));
        assert_eq!(l.state(u(4000)), State::Off);
    }

    #[test]
    fn runs_from_the_stamp_not_from_arrival_less_drift() {
        let mut l = Lease::default();
        // Stamped at 1000, arriving at 1800 (a slow network): runs until
        // 1000 + 1000 - 100.
        l.grant(&req("a", 1, 1000, 1000), u(1800));
        assert!(l.holds(u(1899)));
        assert!(!l.holds(u(1900)));
        assert_eq!(l.state(u(1950)), State::Lapsed);
    }

    #[test]
    fn a_grant_retransmitted_after_a_partition_arrives_expired() {
        let mut l = Lease::default();
        l.grant(&req("a", 1, 1000, 1000), u(1100));
        // The same sentinel's next grant, delayed ten seconds by a cut.
        l.grant(&req("a", 1, 1000, 1150), u(11_000));
        assert!(!l.holds(u(11_000)));
    }

    #[test]
    fn needs_a_majority_of_the_largest_group_reported() {
        let mut l = Lease::default();
        l.grant(&req("a", 3, 1000, 100), u(100));
        assert!(!l.holds(u(100)), "one of three");
        l.grant(&req("b", 3, 1000, 100), u(100));
        assert!(l.holds(u(100)), "two of three");
        // A sentinel that knows fewer does not shrink the majority.
        let mut l = Lease::default();
        l.grant(&req("a", 5, 1000, 100), u(100));
        l.grant(&req("b", 1, 1000, 100), u(100));
        assert!(
            !l.holds(u(100)),
            "two of five: b's count of one does not count"
        );
        l.grant(&req("c", 2, 1000, 100), u(100));
        assert!(l.holds(u(100)), "three of five");
        // Four of seven, then one lapses.
        let mut l = Lease::default();
        for (who, stamp) in [("a", 100), ("b", 100), ("c", 100), ("d", 500)] {
            l.grant(&req(who, 7, 1000, stamp), u(500));
        }
        assert!(l.holds(u(900)));
        assert!(!l.holds(u(1000)), "the grants stamped 100 ran out at 1000");
    }

    #[test]
    fn a_lone_sentinel_is_its_own_majority() {
        let mut l = Lease::default();
        l.grant(&req("a", 1, 1000, 100), u(100));
        assert!(l.holds(u(500)));
        assert!(!l.holds(u(1000)));
    }

    #[test]
    fn renewals_extend_and_a_late_older_grant_does_not_shorten() {
        let mut l = Lease::default();
        l.grant(&req("a", 1, 1000, 100), u(100));
        l.grant(&req("a", 1, 1000, 600), u(650));
        assert!(l.holds(u(1400)));
        l.grant(&req("a", 1, 1000, 300), u(700));
        assert!(l.holds(u(1400)));
        assert!(!l.holds(u(1500)));
    }

    #[test]
    fn lapsed_lease_stays_lapsed_until_renewed_by_a_majority() {
        let mut l = Lease::default();
        l.grant(&req("a", 3, 1000, 100), u(100));
        l.grant(&req("b", 3, 1000, 100), u(100));
        assert!(!l.holds(u(2000)));
        // Long after, every grant is forgotten: still fenced, never back
        // to "off" (a master cut off for a minute must not resume).
        l.grant(&req("a", 3, 1000, 100_000), u(100_000));
        assert!(!l.holds(u(100_000)));
        assert_eq!(l.state(u(100_000)), State::Lapsed);
        l.grant(&req("c", 3, 1000, 100_000), u(100_000));
        assert!(l.holds(u(100_000)));
    }

    #[test]
    fn certified_time_is_the_stamp_a_majority_reached() {
        let mut l = Lease::default();
        assert_eq!(l.certified_time(u(100)), None, "not armed");
        l.grant(&req("a", 3, 1000, 100), u(100));
        assert_eq!(l.certified_time(u(100)), None, "one of three: no lease");
        l.grant(&req("b", 3, 1000, 300), u(300));
        // Two of three: both heard from us at 100 or later.
        assert_eq!(l.certified_time(u(300)), Some(u(100)));
        l.grant(&req("c", 3, 1000, 500), u(500));
        // Stamps 100, 300, 500: two reached 300.
        assert_eq!(l.certified_time(u(500)), Some(u(300)));
        l.grant(&req("a", 3, 1000, 600), u(600));
        assert_eq!(l.certified_time(u(600)), Some(u(500)));
        // b's grant (stamped 300) runs out at 1200; a and c still hold.
        assert_eq!(l.certified_time(u(1250)), Some(u(500)));
        // c's at 1400: one left, no lease, nothing certified.
        assert_eq!(l.certified_time(u(1450)), None);
    }

    #[test]
    fn reset_disarms() {
        let mut l = Lease::default();
        l.grant(&req("a", 3, 1000, 100), u(100));
        assert!(!l.holds(u(5000)));
        l.reset();
        assert!(l.holds(u(5000)));
    }
}
