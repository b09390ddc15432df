//! A script past `busy-reply-threshold` (Redis's `scriptInterrupt` and
//! `processEventsWhileBlocked`).
//!
//! Scripts run on the executor thread inside their command, so while one
//! runs no connection task can. Lua calls [`hook`] every 100 000
//! instructions. Once the script has run longer than the threshold, each
//! call serves the other connections itself, as Redis's event loop does
//! while it is blocked: for every plain-TCP client whose task is idle
//! (waiting for input, nothing buffered), it reads what the socket has,
//! runs the complete requests through `cmd::execute` (which answers
//! `-BUSY`, except for the commands flagged `allow-busy`: SCRIPT KILL,
//! FUNCTION KILL, SHUTDOWN NOSAVE, ...) and writes the replies straight to
//! the socket. Bytes of an incomplete request, and replies the socket
//! would not take, stay in the client for its task, which is woken when
//! the script ends. The caller is skipped (its task is mid-command), and
//! so are TLS connections, blocked or paused clients and replicas: they
//! are answered when the script ends. New plain TCP connections are
//! accepted and served the same way (`net::accept_while_busy`); their
//! tasks start when the script ends.
//!
//! A kill request is honoured at the next hook call by raising an error;
//! from then on the hook runs at every line and raises again, so `pcall`
//! cannot keep a killed script alive.

use super::lua::{self, ffi, State};
use super::vm;
use crate::client::{Client, Kind};
use crate::config::Directive;
use crate::errors;
use crate::server::Server;
use std::rc::Rc;

/// Most bytes read from one client per hook call.
const READ_BUDGET: usize = 1 << 20;

/// What the hook decided.
enum Verdict {
    Continue,
    /// Raise this error (a kill, or FUNCTION LOAD's time limit).
    Stop(&'static str),
}

/// The instruction-count hook of both Lua states (Redis's
/// `luaMaskCountHook` and `luaEngineLoadHook`). When it stops a script it
/// switches itself to run on every line, so a script that catches the
/// error with `pcall` is stopped again at its next line.
///
/// # Safety
/// Called by Lua only.
pub unsafe extern "C-unwind" fn hook(l: State, _ar: *mut ffi::lua_Debug) {
    let verdict = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| decide(l)))
        .unwrap_or(Verdict::Continue);
    if let Verdict::Stop(text) = verdict {
        ffi::lua_sethook(l, Some(hook), ffi::LUA_MASKLINE, 0);
        lua::push_error_table(l, text.as_bytes());
        ffi::lua_error(l);
    }
}

unsafe fn decide(l: State) -> Verdict {
    let sh = vm::shared(l);
    let run = sh.run.get();
    if run.is_null() {
        // FUNCTION LOAD running a library's code.
        if super::functions::load_timed_out(sh) {
            return Verdict::Stop("FUNCTION LOAD timeout");
        }
        return Verdict::Continue;
    }
    // SAFETY: `run` is set by `run::run` for the duration of the script,
    // and no other reference to the server is alive while Lua runs.
    let srv = &mut *(*run).srv;
    let Some(r) = srv.scripting.running.as_mut() else {
        return Verdict::Continue;
    };
    if !r.timed_out {
        let threshold = srv.config.get_int(Directive::BusyReplyThreshold);
        let elapsed = r.start.elapsed().as_millis() as i64;
        if elapsed < threshold {
            return Verdict::Continue;
        }
        r.timed_out = true;
        let cmd = if r.eval_mode {
            "SCRIPT KILL"
        } else {
            "FUNCTION KILL"
        };
        crate::log_warning!(
            "Slow script detected: still in execution after {elapsed} milliseconds. You can try killing the script using the {cmd} command. Script name is: {}.",
            srv.scripting.running_name
        );
    }
    serve_while_busy(srv);
    // SHUTDOWN NOSAVE stops the server at once, as Redis exits from
    // inside the script.
    if srv.shutdown_requested {
        crate::startup::exit_during_script(srv);
    }
    if srv.scripting.running.as_ref().is_some_and(|r| r.killed) {
        crate::log_warning!("Lua script killed by user with SCRIPT KILL.");
        return Verdict::Stop(errors::LUA_KILLED);
    }
    Verdict::Continue
}

/// SCRIPT KILL / FUNCTION KILL (`eval` tells which): the reply's text, or
/// `None` for `+OK` when the script is marked killed.
pub fn kill(srv: &mut Server, eval: bool) -> Option<&'static str> {
    let Some(r) = srv.scripting.running.as_mut() else {
        return Some(errors::NOTBUSY);
    };
    if r.from_master {
        return Some(errors::UNKILLABLE_FROM_MASTER);
    }
    if r.write_dirty {
        return Some(errors::UNKILLABLE_WROTE);
    }
    if eval && !r.eval_mode {
        return Some(errors::BUSY_FUNCTION);
    }
    if !eval && r.eval_mode {
        return Some(errors::BUSY_SCRIPT);
    }
    r.killed = true;
    None
}

/// Whether the task of `c` waits for input with nothing buffered, on a
/// socket we may read and write directly.
fn servable(c: &Client) -> bool {
    c.kind == Kind::Normal
        && c.io_idle
        && !c.tls
        && c.fd >= 0
        && c.qbuf == 0
        && c.blocked.is_none()
        && !c.paused
        && !c.killed
}

/// Replicas whose connection closed are forgotten at once, as Redis's
/// event loop frees them while a script is busy: `INFO` and the
/// min-replicas checks the script makes see them gone.
fn drop_closed_replicas(srv: &mut Server) {
    let gone: Vec<u64> = srv
        .clients
        .iter()
        .filter_map(|(&id, rc)| {
            let c = rc.try_borrow().ok()?;
            if c.kind != Kind::Replica || c.tls || c.fd < 0 {
                return None;
            }
            let mut p = libc::pollfd {
                fd: c.fd,
                events: libc::POLLRDHUP,
                revents: 0,
            };
            // SAFETY: a zero-timeout poll of one descriptor on the stack.
            let n = unsafe { libc::poll(&mut p, 1, 0) };
            let closed = libc::POLLRDHUP | libc::POLLHUP | libc::POLLERR;
            (n > 0 && p.revents & closed != 0).then_some(id)
        })
        .collect();
    for id in gone {
        crate::replication::client_gone(srv, id);
    }
}

/// One pass over the other connections (see the module's header).
fn serve_while_busy(srv: &mut Server) {
    drop_closed_replicas(srv);
    crate::net::accept_while_busy(srv);
    let ids: Vec<u64> = srv.clients.keys().copied().collect();
    let mut req = resp::Request::default();
    for id in ids {
        let Some(rc) = srv.clients.get(&id).cloned() else {
            continue;
        };
        // The caller's task holds its client borrowed: skipped here.
        let Ok(mut c) = rc.try_borrow_mut() else {
            continue;
        };
        if !servable(&c) && c.stashed_input.is_empty() && c.pending_output() == 0 {
            continue;
        }
        let mut got_input = false;
        if servable(&c) {
            let mut buf = [0u8; 16 * 1024];
            let mut total = 0;
            while total < READ_BUDGET {
                // SAFETY: reading into a stack buffer from the client's
                // own non-blocking socket.
                let n =
                    unsafe { libc::read(c.fd, buf.as_mut_ptr() as *mut libc::c_void, buf.len()) };
                if n > 0 {
                    let n = n as usize;
                    c.stashed_input.extend_from_slice(&buf[..n]);
                    srv.stats.net_input_bytes += n as u64;
                    total += n;
                    got_input = true;
                    continue;
                }
                if n == 0 {
                    // The peer closed: its task will notice.
                    c.killed = true;
                }
                break;
            }
        }
        if got_input {
            let mut input = std::mem::take(&mut c.stashed_input);
            let flow = crate::net::process_buffer(srv, &mut c, &mut input, &mut req);
            c.stashed_input = input;
            if flow == crate::cmd::Flow::CloseAfterReply {
                c.close_after_reply = true;
            }
        }
        if c.pending_output() > 0 && c.io_idle && !c.tls {
            let pending = &c.out.buf[c.out_sent..];
            // SAFETY: writing the client's own pending output to its own
            // non-blocking socket; its task is idle, so nothing else is
            // writing to it.
            let n = unsafe {
                libc::write(c.fd, pending.as_ptr() as *const libc::c_void, pending.len())
            };
            if n > 0 {
                srv.stats.net_output_bytes += n as u64;
                c.out_sent += n as usize;
                crate::client_buffers::compact_output(&mut c);
            }
        }
        if c.close_after_reply && c.pending_output() == 0 {
            c.killed = true;
        }
        if got_input || c.pending_output() > 0 {
            srv.scripting.served.push(c.wake.clone());
        }
    }
}

/// Wakes the tasks of the connections served during a busy script, so
/// they take over what was left (output, an incomplete request).
pub fn wake(served: &mut Vec<Rc<tokio::sync::Notify>>) {
    for n in served.drain(..) {
        n.notify_one();
    }
}
