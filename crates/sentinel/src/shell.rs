//! The I/O shell around the pure core: it owns the sentinel's state, the
//! connections to watched instances and the script processes, runs the
//! timer, and performs the [`Action`]s the core returns.
//!
//! One [`Shell`] per sentinel, shared (`Rc`) by the tasks that need it:
//! the timer task, every link's event sink, the metrics endpoint's render
//! closure. Everything runs on the server's single-threaded event loop and
//! no borrow is held across an `.await`, so the state's `RefCell` is never
//! found borrowed by the timer or a link; should that ever happen it is
//! logged, not skipped silently. The server is borrowed only to perform
//! actions (publish events, read the TLS settings), after the state's
//! borrow has ended.
//!
//! Command handlers are plain `fn(&mut Ctx)` taken from the mode's static
//! table; they reach the shell through the server's `mode_state` slot,
//! filled once at start-up ([`current`]).

use crate::action::{Action, LinkId, LinkKind, Out};
use crate::link::{self, LinkEvent, LinkHandle};
use crate::scripts::{self, Children};
use crate::state::Sentinel;
use crate::{confile, metrics, monitor};
use rand::Rng;
use server::log::Level;
use server::server::Server;
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::{Rc, Weak};

pub struct Shell {
    /// The server, weakly: it owns the event loop this shell runs on.
    srv: Weak<RefCell<Server>>,
    pub state: RefCell<Sentinel>,
    links: RefCell<HashMap<(u64, LinkKind), LinkHandle>>,
    children: RefCell<Children>,
    /// Handed to each link as its sink.
    me: Weak<Shell>,
}

/// The running sentinel's shell, for command handlers.
pub fn current(srv: &Server) -> Option<Rc<Shell>> {
    srv.mode_state.clone()?.downcast::<Shell>().ok()
}

pub fn now_ms() -> i64 {
    server::util::time::unix_ms()
}

/// The monotonic clock the lease counts with (`Sentinel::mono`).
pub fn mono_ms() -> i64 {
    server::util::time::monotonic_ms()
}

/// Saves the state into the config file (with the server's settings, as
/// Redis rewrites the whole file); a failure is logged, as Redis does, and
/// the sentinel goes on (the next change tries again). False when it
/// failed.
pub fn save(st: &Sentinel, srv: &Server) -> bool {
    match confile::flush(st, &live_config(srv)) {
        Ok(()) => {
            server::log::write(Level::Notice, "Sentinel new configuration saved on disk");
            true
        }
        Err(e) => {
            server::log::write(
                Level::Warning,
                &format!(
                    "WARNING: Sentinel was not able to save the new configuration on disk!!!: {}",
                    server::config::strerror(&e)
                ),
            );
            false
        }
    }
}

/// The server's configuration as it is now, its ACL users as `user`
/// lines (what `CONFIG REWRITE` writes).
fn live_config(srv: &Server) -> server::config::Config {
    let mut cfg = srv.config.clone();
    cfg.users = srv
        .acl
        .users
        .iter()
        .map(|(name, u)| {
            let mut line = vec![String::from_utf8_lossy(name).into_owned()];
            line.extend(u.borrow().describe().split(' ').map(str::to_string));
            line
        })
        .collect();
    cfg
}

impl Shell {
    /// Takes ownership of the state, registers the shell for command
    /// handlers and starts the timer and the metrics endpoint.
    pub fn start(srv: &Rc<RefCell<Server>>, st: Sentinel) -> Rc<Shell> {
        let shell = Rc::new_cyclic(|me| Shell {
            srv: Rc::downgrade(srv),
            state: RefCell::new(st),
            links: RefCell::new(HashMap::new()),
            children: RefCell::new(Children::default()),
            me: me.clone(),
        });
        srv.borrow_mut().mode_state = Some(shell.clone());
        tokio::task::spawn_local(timer_task(shell.clone()));
        let for_metrics = shell.clone();
        server::metrics::spawn(srv, Rc::new(move || for_metrics.render_metrics()));
        shell
    }

    /// One timer period: the core's tick, then the script runner.
    fn tick(&self) {
        let now = now_ms();
        let actions = {
            let Ok(mut st) = self.state.try_borrow_mut() else {
                server::log::write(
                    Level::Warning,
                    "Sentinel state busy at the timer: this period is skipped",
                );
                return;
            };
            st.mono = mono_ms();
            let mut actions = monitor::tick(&mut st, now);
            let mut out = Out::new();
            scripts::run(&mut st, &mut self.children.borrow_mut(), &mut out, now);
            actions.append(&mut out.actions);
            actions
        };
        self.perform_on_server(actions);
        self.sweep_links();
    }

    /// What a link reported.
    fn on_link_event(&self, link: LinkId, ev: LinkEvent) {
        if ev == LinkEvent::Closed {
            self.forget_handle(link);
        }
        let actions = {
            let Ok(mut st) = self.state.try_borrow_mut() else {
                server::log::write(
                    Level::Warning,
                    &format!("Sentinel state busy: an event of link {link:?} is dropped"),
                );
                return;
            };
            st.mono = mono_ms();
            monitor::on_link_event(&mut st, link, ev, now_ms())
        };
        self.perform_on_server(actions);
    }

    /// Performs actions from a task (timer, link), borrowing the server.
    fn perform_on_server(&self, actions: Vec<Action>) {
        if actions.is_empty() {
            return;
        }
        let Some(srv) = self.srv.upgrade() else {
            return;
        };
        let Ok(mut srv) = srv.try_borrow_mut() else {
            server::log::write(
                Level::Warning,
                "Server busy: Sentinel actions performed without publishing their events",
            );
            for a in actions {
                self.perform_one(None, a);
            }
            return;
        };
        self.perform(&mut srv, actions);
    }

    /// Performs `actions` in order, with the server at hand (a command
    /// handler passes its own). False when a configuration save among
    /// them failed.
    pub fn perform(&self, srv: &mut Server, actions: Vec<Action>) -> bool {
        let mut saved = true;
        for a in actions {
            saved &= self.perform_one(Some(&mut *srv), a);
        }
        saved
    }

    /// Performs one action; false only for a configuration save that
    /// failed.
    fn perform_one(&self, srv: Option<&mut Server>, a: Action) -> bool {
        match a {
            Action::Connect { link, addr } => {
                // `tls-replication yes`: links to instances and sentinels
                // use TLS, as Redis Sentinel's do.
                let tls = srv.and_then(|s| {
                    if s.config.get_bool(server::config::Directive::TlsReplication) {
                        s.tls.clone()
                    } else {
                        None
                    }
                });
                let me = self.me.clone();
                let sink: link::Sink = Rc::new(move |id, ev| {
                    if let Some(shell) = me.upgrade() {
                        shell.on_link_event(id, ev);
                    }
                });
                // The IP the address resolved to (Redis connects to it).
                let host = addr.connect_host().to_string();
                let h = link::open(link, host, addr.port, tls, sink);
                self.links.borrow_mut().insert((link.inst, link.kind), h);
            }
            Action::Send { link, cmds } => {
                let links = self.links.borrow();
                match links.get(&(link.inst, link.kind)).filter(|h| h.id == link) {
                    // A link that ended reports `Closed` before anything
                    // else runs; the core then stops sending to it.
                    Some(h) => {
                        h.send(&cmds);
                    }
                    None => server::log::write(
                        Level::Debug,
                        &format!("Sentinel: no link {link:?} to send on"),
                    ),
                }
            }
            Action::Close { link } => self.forget_handle(link),
            Action::Event {
                level,
                kind,
                payload,
            } => {
                if server::log::enabled(level) {
                    server::log::write(level, &format!("{kind} {payload}"));
                }
                if level != Level::Debug {
                    if let Some(srv) = srv {
                        srv.publish(kind.as_bytes(), payload.as_bytes());
                    }
                }
            }
            Action::Log { level, text } => server::log::write(level, &text),
            Action::SaveConfig => match (self.state.try_borrow(), srv) {
                (Ok(st), Some(srv)) => return save(&st, srv),
                _ => {
                    server::log::write(
                        Level::Warning,
                        "Sentinel state or server busy: the configuration was not saved",
                    );
                    return false;
                }
            },
            Action::Crash { reason } => {
                server::log::write(Level::Warning, reason);
                std::process::exit(99);
            }
        }
        true
    }

    /// Drops the handle of `link` (its task then ends) if it is the
    /// current one.
    fn forget_handle(&self, link: LinkId) {
        let mut links = self.links.borrow_mut();
        if links
            .get(&(link.inst, link.kind))
            .is_some_and(|h| h.id == link)
        {
            links.remove(&(link.inst, link.kind));
        }
    }

    /// Drops connections the state no longer has (an instance forgotten
    /// without its links being closed): a core bug, reported, and no
    /// connection is leaked because of it.
    fn sweep_links(&self) {
        let Ok(st) = self.state.try_borrow() else {
            return;
        };
        let mut links = self.links.borrow_mut();
        links.retain(|&(inst, kind), h| {
            let current =
                st.masters
                    .values()
                    .find_map(|m| m.instance(inst))
                    .and_then(|i| match kind {
                        LinkKind::Cmd => i.links.cmd.as_ref(),
                        LinkKind::PubSub => i.links.pubsub.as_ref(),
                    });
            let keep = current.is_some_and(|l| l.gen == h.id.gen);
            if !keep {
                server::log::write(
                    Level::Warning,
                    &format!("Sentinel: dropping link {:?} the state no longer has", h.id),
                );
            }
            keep
        });
    }

    fn render_metrics(&self) -> String {
        let masters = match self.state.try_borrow() {
            Ok(st) => metrics::masters(&st),
            Err(_) => {
                server::log::write(
                    Level::Warning,
                    "Sentinel state busy: metrics served without masters",
                );
                Vec::new()
            }
        };
        metrics::render(&masters)
    }
}

/// The timer task: ten times a second, with a little jitter so that
/// sentinels started together do not act in lockstep.
async fn timer_task(shell: Rc<Shell>) {
    loop {
        let ms = 100 + rand::thread_rng().gen_range(0..10);
        tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
        shell.tick();
    }
}
