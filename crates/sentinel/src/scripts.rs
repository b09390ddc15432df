//! Runs the queued `notification-script` and `client-reconfig-script`
//! invocations: starts them, reaps them, retries those that exit with 1,
//! kills those over `script-max-runtime` — Redis Sentinel's rules.
//!
//! This is I/O (processes), called by the shell once per tick. The queue
//! itself is state (`Sentinel::scripts`, filled by `events::queue_script`);
//! the child processes are owned here, by the shell's [`Children`].

use crate::action::Out;
use crate::state::Sentinel;
use server::log::Level;
use std::process::Child;

const MAX_RUNNING: usize = 16;
const MAX_RETRY: u32 = 10;

/// The script processes running, by pid.
#[derive(Debug, Default)]
pub struct Children(Vec<(u32, Child)>);

/// Starts queued scripts, reaps finished ones, kills the ones over time.
/// The errors to report come back as events in `out`.
pub fn run(st: &mut Sentinel, children: &mut Children, out: &mut Out, now: i64) {
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
                children.0.push((child.id(), child));
                slots -= 1;
            }
            Err(e) => {
                out.event(
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
    children
        .0
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
                out.event(Level::Warning, "-script-error", &text);
            }
            st.scripts.remove(i);
        }
    }
    // Scripts over their time are killed (and not retried).
    for s in st.scripts.iter_mut() {
        if s.running && now - s.start_time > max_runtime {
            let pid = s.pid;
            if let Some((_, child)) = children.0.iter_mut().find(|(p, _)| *p == pid) {
                let _ = child.kill();
            }
            out.event(
                Level::Warning,
                "-script-timeout",
                &format!("{} {}", s.path, pid),
            );
            s.retries = MAX_RETRY;
        }
    }
    st.scripts.retain(|s| s.start_time != i64::MAX);
}
