//! Redoubt Sentinel: monitoring and automatic failover, speaking Redis
//! Sentinel's protocol so clients and tooling work unchanged.
//!
//! Sentinel is a mode of the server (DESIGN.md): the server's listener,
//! dispatch, Pub/Sub, CLIENT and ACL serve it, with the commands below on
//! top. State lives in [`state::Sentinel`]; [`monitor`] runs the timer and
//! the failover; [`link`] holds the connections to watched instances;
//! [`confile`] reads and rewrites the `sentinel` lines of the config file.

pub mod api;
pub mod confile;
pub mod events;
pub mod link;
pub mod metrics;
pub mod monitor;
pub mod specs;
pub mod state;

use server::config::Config;
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
    let tls_port = cfg.get_int("tls-port") as u16;
    let port = if cfg.get_bool("tls-replication") && tls_port != 0 {
        tls_port
    } else {
        cfg.get_int("port") as u16
    };
    let mut st = state::Sentinel::new(file, port);
    st.globals.deny_scripts_reconfig = true;
    let now = monitor::now_ms();
    for (line_no, line, words) in &cfg.mode_lines {
        confile::apply_line(&mut st, words, now)
            .map_err(|reason| (*line_no, line.clone(), reason.to_string()))?;
    }
    let pass = cfg.get_str("requirepass");
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
        use rand::Rng;
        let mut rng = rand::thread_rng();
        st.myid = (0..40)
            .map(|_| char::from(b"0123456789abcdef"[rng.gen_range(0..16)]))
            .collect();
    }
    monitor::save(&st);
    server::log::write(
        server::log::Level::Warning,
        &format!("Sentinel ID is {}", st.myid),
    );
    api::monitor_started(&mut srv.borrow_mut(), &mut st);
    monitor::install(srv, Rc::new(RefCell::new(st)));
    tokio::task::spawn_local(monitor::timer_task());
    // The Prometheus endpoint, when `metrics-port` is set.
    server::metrics::spawn(srv, Rc::new(render_metrics));
}

fn render_metrics() -> String {
    let masters: Vec<metrics::SentinelMaster> = monitor::state()
        .and_then(|st| {
            let st = st.try_borrow().ok()?;
            Some(
                st.masters
                    .values()
                    .map(|m| metrics::SentinelMaster {
                        name: m.inst.name.clone(),
                        addr: m.current_addr().to_string(),
                        state: if m.inst.o_down() {
                            "odown"
                        } else if m.inst.s_down() {
                            "sdown"
                        } else {
                            "ok"
                        }
                        .to_string(),
                        failovers: m.failovers,
                        replicas: m.replicas.len() as u64,
                        sentinels: m.sentinels.len() as u64,
                        quorum: u64::from(m.quorum),
                        failover_in_progress: m.in_failover(),
                    })
                    .collect(),
            )
        })
        .unwrap_or_default();
    metrics::render(&masters)
}
