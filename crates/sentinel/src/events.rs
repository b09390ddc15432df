//! Sentinel events: one line in the log, one Pub/Sub message on a channel
//! named after the event, and the notification script for warnings — the
//! same names and payloads as Redis Sentinel, which clients subscribe to.

use crate::state::{Instance, Kind, Master, Script, Sentinel};
use server::log::Level;
use server::server::Server;

/// `master NAME IP PORT`, or `slave|sentinel NAME IP PORT @ MASTER IP PORT`.
pub fn describe(m: &Master, inst: &Instance) -> String {
    if inst.kind == Kind::Master {
        format!(
            "master {} {} {}",
            m.inst.name, m.inst.addr.host, m.inst.addr.port
        )
    } else {
        format!(
            "{} {} {} {} @ {} {} {}",
            inst.kind.word(),
            inst.name,
            inst.addr.host,
            inst.addr.port,
            m.inst.name,
            m.inst.addr.host,
            m.inst.addr.port
        )
    }
}

/// Emits an event with a free-form payload.
pub fn emit(srv: &mut Server, level: Level, kind: &str, payload: &str) {
    if server::log::enabled(level) {
        server::log::write(level, &format!("{kind} {payload}"));
    }
    if level != Level::Debug {
        srv.publish(kind.as_bytes(), payload.as_bytes());
    }
}

/// Emits an event about an instance of `m` (the master itself when `id`
/// is the master's), with optional text after the description, and queues
/// the master's notification script for warnings.
pub fn inst_event(
    srv: &mut Server,
    st: &mut Sentinel,
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
    let mut payload = describe(m, inst);
    if !extra.is_empty() {
        payload.push(' ');
        payload.push_str(extra);
    }
    let script = m.notification_script.clone();
    emit(srv, level, kind, &payload);
    if level == Level::Warning {
        if let Some(path) = script {
            queue_script(st, path, vec![kind.to_string(), payload]);
        }
    }
}

/// At most this many scripts wait; more are dropped, as in Redis.
const MAX_QUEUE: usize = 256;
const MAX_RUNNING: usize = 16;
const MAX_RETRY: u32 = 10;

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

thread_local! {
    static CHILDREN: std::cell::RefCell<Vec<(u32, std::process::Child)>> =
        const { std::cell::RefCell::new(Vec::new()) };
}

/// Starts queued scripts, reaps finished ones, kills the ones over time.
pub fn run_scripts(srv: &mut Server, st: &mut Sentinel, now: i64) {
    let running = st.scripts.iter().filter(|s| s.running).count();
    let mut slots = MAX_RUNNING.saturating_sub(running);
    for s in st.scripts.iter_mut() {
        if slots == 0 {
            break;
        }
        if s.running || s.start_time > now {
            continue;
        }
        match std::process::Command::new(&s.path).args(&s.args).spawn() {
            Ok(child) => {
                s.running = true;
                s.pid = child.id();
                s.start_time = now;
                CHILDREN.with(|c| c.borrow_mut().push((child.id(), child)));
                slots -= 1;
            }
            Err(e) => {
                emit(
                    srv,
                    Level::Warning,
                    "-script-error",
                    &format!("{} {} {}", s.path, e, 2),
                );
                s.retries = MAX_RETRY;
                s.start_time = i64::MAX;
            }
        }
    }
    let max_runtime = st.timing.script_max_runtime;
    let retry_delay = st.timing.script_retry_delay;
    let mut finished: Vec<(u32, Option<i32>)> = Vec::new();
    CHILDREN.with(|c| {
        c.borrow_mut()
            .retain_mut(|(pid, child)| match child.try_wait() {
                Ok(Some(status)) => {
                    finished.push((*pid, status.code()));
                    false
                }
                Ok(None) => true,
                Err(_) => {
                    finished.push((*pid, None));
                    false
                }
            });
    });
    for (pid, code) in finished {
        let Some(i) = st.scripts.iter().position(|s| s.running && s.pid == pid) else {
            continue;
        };
        // A script killed by a signal is retried, like an exit code of 1.
        let code = code.unwrap_or(1);
        let s = &mut st.scripts[i];
        if code == 1 && s.retries < MAX_RETRY {
            // Exit code 1 asks for a retry later, with a growing delay.
            s.running = false;
            s.retries += 1;
            s.start_time = now + retry_delay * (1 << s.retries.min(10)) as i64;
        } else {
            if code != 0 {
                let text = format!("{} {}", s.path, code);
                emit(srv, Level::Warning, "-script-error", &text);
            }
            st.scripts.remove(i);
        }
    }
    // Scripts over their time are killed (and not retried).
    for s in st.scripts.iter_mut() {
        if s.running && now - s.start_time > max_runtime {
            let pid = s.pid;
            CHILDREN.with(|c| {
                if let Some((_, child)) = c.borrow_mut().iter_mut().find(|(p, _)| *p == pid) {
                    let _ = child.kill();
                }
            });
            emit(
                srv,
                Level::Warning,
                "-script-timeout",
                &format!("{} {}", s.path, pid),
            );
            s.retries = MAX_RETRY;
        }
    }
    st.scripts.retain(|s| s.start_time != i64::MAX);
}
