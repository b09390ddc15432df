//! Sentinel events: one line in the log, one Pub/Sub message on a channel
//! named after the event, and the notification script for warnings — the
//! same names and payloads as Redis Sentinel, which clients subscribe to.
//!
//! Pure: an event is an [`Action::Event`](crate::action::Action) for the
//! shell to log and publish, and a script is queued in the state for the
//! shell's script runner (`scripts.rs`).

use crate::action::Out;
use crate::state::{Instance, Kind, Master, Script, Sentinel};
use server::log::Level;

/// `master NAME IP PORT`, or `slave|sentinel NAME IP PORT @ MASTER IP PORT`,
/// addresses as announced (IPs, or host names with `announce-hostnames`).
pub fn describe(st: &Sentinel, m: &Master, inst: &Instance) -> String {
    let maddr = &m.inst.addr;
    if inst.kind == Kind::Master {
        format!(
            "master {} {} {}",
            m.inst.name,
            st.announce(maddr),
            maddr.port
        )
    } else {
        format!(
            "{} {} {} {} @ {} {} {}",
            inst.kind.word(),
            inst.name,
            st.announce(&inst.addr),
            inst.addr.port,
            m.inst.name,
            st.announce(maddr),
            maddr.port
        )
    }
}

/// Emits an event about an instance of `m` (the master itself when `id`
/// is the master's), with optional text after the description, and queues
/// the master's notification script for warnings.
pub fn inst_event(
    st: &mut Sentinel,
    out: &mut Out,
    level: Level,
    kind: &str,
    master: &str,
    id: u64,
    extra: &str,
) {
    let Some(m) = st.masters.get(master) else {
        return;
    };
    let inst = if m.inst.id == id {
        &m.inst
    } else {
        match m
            .replicas
            .iter()
            .chain(m.sentinels.iter())
            .find(|i| i.id == id)
        {
            Some(i) => i,
            None => return,
        }
    };
    let mut payload = describe(st, m, inst);
    if !extra.is_empty() {
        payload.push(' ');
        payload.push_str(extra);
    }
    let script = m.notification_script.clone();
    out.event(level, kind, &payload);
    if level == Level::Warning {
        if let Some(path) = script {
            queue_script(st, path, vec![kind.to_string(), payload]);
        }
    }
}

/// At most this many scripts wait; more are dropped, as in Redis.
const MAX_QUEUE: usize = 256;

pub fn queue_script(st: &mut Sentinel, path: String, args: Vec<String>) {
    if st.scripts.len() >= MAX_QUEUE {
        // Drop the oldest one that is not running.
        if let Some(i) = st.scripts.iter().position(|s| !s.running) {
            st.scripts.remove(i);
        }
    }
    st.scripts.push(Script {
        path,
        args,
        retries: 0,
        start_time: 0,
        running: false,
        pid: 0,
    });
}
