//! Redoubt Sentinel: monitoring and automatic failover, speaking Redis
//! Sentinel's protocol so clients and tooling work unchanged.
//!
//! Sentinel is a mode of the server (DESIGN.md): the server's listener,
//! dispatch, Pub/Sub, CLIENT and ACL serve it, with the commands below on
//! top.
//!
//! A pure core decides; a thin shell does the I/O. The core is
//! [`state`] (what a sentinel knows), [`monitor`] (the timer tick and link
//! events, the entry points), [`down`] (SDOWN/ODOWN), [`election`] (the
//! vote), [`failover`] (the state machine and the choice of replica),
//! [`hello`] and [`info`] (what the others and the instances tell us) and
//! [`events`]: functions of the state, the time and an event that change
//! the state and return [`action::Action`]s. The shell is [`shell`] (owns
//! the state, runs the timer, performs actions), [`link`] (connections to
//! watched instances) and [`scripts`] (notification scripts). [`api`]
//! serves the SENTINEL commands, [`confile`] reads and rewrites the
//! `sentinel` lines of the config file, [`metrics`] renders Sentinel's
//! Prometheus families.

pub mod action;
pub mod api;
pub mod confile;
pub mod down;
pub mod election;
pub mod events;
pub mod failover;
pub mod hello;
pub mod info;
pub mod lease;
pub mod link;
pub mod metrics;
pub mod monitor;
pub mod scripts;
pub mod shell;
pub mod specs;
pub mod state;

#[cfg(test)]
mod tests;

use server::config::Config;
use server::config::Directive;
use server::mode::Mode;
use server::server::Server;
use std::cell::RefCell;
use std::rc::Rc;

/// The server commands a sentinel serves (Redis Sentinel 7.0's list).
const SERVED: &[&str] = &[
    "acl",
    "auth",
    "client",
    "command",
    "hello",
    "info",
    "ping",
    "psubscribe",
    "publish",
    "punsubscribe",
    "role",
    "shutdown",
    "subscribe",
    "unsubscribe",
];

pub static MODE: Mode = Mode {
    name: "sentinel",
    log_role: b'X',
    default_port: 26379,
    served: SERVED,
    specs: specs::SPECS,
    handlers: api::COMMANDS,
    check_config,
    start,
};

/// Builds the state from the config's `sentinel` lines.
fn load_state(cfg: &Config) -> Result<state::Sentinel, (usize, String, String)> {
    let file = cfg.file.clone().unwrap_or_default();
    // Sentinels reach each other where they announce themselves: the TLS
    // port when their links use TLS, as Redis Sentinel does.
    let tls_port = cfg.get_int(Directive::TlsPort) as u16;
    let port = if cfg.get_bool(Directive::TlsReplication) && tls_port != 0 {
        tls_port
    } else {
        cfg.get_int(Directive::Port) as u16
    };
    let mut st = state::Sentinel::new(file, port);
    st.globals.deny_scripts_reconfig = true;
    let now = shell::now_ms();
    // As Redis 7.0 loads them: global options first, then the `monitor`
    // lines, then everything else, so a master's settings may come before
    // its `monitor` line in the file. Errors still name the file's line.
    let mut lines: Vec<&(usize, String, Vec<String>)> = cfg.mode_lines.iter().collect();
    lines.sort_by_key(|(_, _, words)| confile::load_phase(words));
    for (line_no, line, words) in lines {
        confile::apply_line(&mut st, words, now)
            .map_err(|reason| (*line_no, line.clone(), reason.to_string()))?;
    }
    let pass = cfg.get_str(Directive::Requirepass);
    st.requirepass = Some(pass).filter(|p| !p.is_empty());
    Ok(st)
}

fn check_config(cfg: &Config) -> Result<(), (usize, String, String)> {
    load_state(cfg).map(|_| ())
}

fn start(srv: &Rc<RefCell<Server>>) {
    let cfg = srv.borrow().config.clone();
    let mut st = match load_state(&cfg) {
        Ok(st) => st,
        // Checked when the config was read; nothing can differ here.
        Err((_, _, reason)) => {
            server::log::write(server::log::Level::Warning, &reason);
            return;
        }
    };
    if st.myid.is_empty() {
        st.myid = server::util::ids::new_id40(&mut rand::thread_rng());
    }
    shell::save(&st, &srv.borrow());
    server::log::write(
        server::log::Level::Warning,
        &format!("Sentinel ID is {}", st.myid),
    );
    let mut out = action::Out::new();
    api::monitor_started(&mut st, &mut out);
    let shell = shell::Shell::start(srv, st);
    shell.perform(&mut srv.borrow_mut(), out.actions);
}
