//! What the core asks the shell to do.
//!
//! The decisions (`monitor`, `down`, `election`, `failover`, `hello`,
//! `info`) change the state and describe their side effects as a list of
//! [`Action`]s, in the order they were decided; the shell (`shell.rs`)
//! performs them in that order. A test runs a decision and reads the list
//! instead of watching sockets, logs and files — as raft-rs's `step()`
//! returns messages instead of sending them.
//!
//! Sending is decided here too, including its bookkeeping: the core keeps
//! the number of replies each command link owes (it counts its own sends
//! and the replies it is handed), so it never needs to ask a connection.

use crate::link::Tag;
use crate::state::{Addr, Instance};
use server::log::Level;

/// Which of an instance's two connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LinkKind {
    /// Commands (PING, INFO, PUBLISH, SENTINEL ..., the reconfiguration).
    Cmd,
    /// Subscribed to the hello channel.
    PubSub,
}

/// One connection: the instance, which link, and its generation (a new
/// connection to the same instance gets a new one, so events of an old
/// connection are recognised and dropped).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct LinkId {
    pub inst: u64,
    pub kind: LinkKind,
    pub gen: u64,
}

/// A command to send and what its reply will be used for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cmd {
    pub args: Vec<Vec<u8>>,
    pub tag: Tag,
}

impl Cmd {
    pub fn new(args: &[&[u8]], tag: Tag) -> Cmd {
        Cmd {
            args: args.iter().map(|a| a.to_vec()).collect(),
            tag,
        }
    }
}

/// One side effect for the shell to perform.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Open a connection to `addr`; its events come back as `link`.
    Connect { link: LinkId, addr: Addr },
    /// Write these commands on the connection, in one write.
    Send { link: LinkId, cmds: Vec<Cmd> },
    /// Drop the connection (its later events are ignored).
    Close { link: LinkId },
    /// A Sentinel event: a log line `KIND PAYLOAD` and a Pub/Sub message
    /// on the channel named KIND (none for debug-level events).
    Event {
        level: Level,
        kind: String,
        payload: String,
    },
    /// A log line only.
    Log { level: Level, text: String },
    /// Rewrite the config file with the state as it is then.
    SaveConfig,
    /// `SENTINEL SIMULATE-FAILURE`: log `reason` and exit at once.
    Crash { reason: &'static str },
}

/// The actions a decision produced, in order.
#[derive(Debug, Default)]
pub struct Out {
    pub actions: Vec<Action>,
}

impl Out {
    pub fn new() -> Out {
        Out::default()
    }

    pub fn event(&mut self, level: Level, kind: &str, payload: &str) {
        self.actions.push(Action::Event {
            level,
            kind: kind.to_string(),
            payload: payload.to_string(),
        });
    }

    pub fn log(&mut self, level: Level, text: String) {
        self.actions.push(Action::Log { level, text });
    }

    pub fn save(&mut self) {
        self.actions.push(Action::SaveConfig);
    }

    /// `SENTINEL SIMULATE-FAILURE`: the decision that asked for it stops
    /// right after (the process exits when the shell gets here).
    pub fn crash(&mut self, reason: &'static str) {
        self.actions.push(Action::Crash { reason });
    }

    pub fn connect(&mut self, link: LinkId, addr: Addr) {
        self.actions.push(Action::Connect { link, addr });
    }

    /// Queues `cmds` on the command link of `i`, as one write. False when
    /// there is no link (not even one being opened): nothing is sent.
    pub fn send(&mut self, i: &mut Instance, cmds: Vec<Cmd>) -> bool {
        let Some(l) = i.links.cmd.as_mut() else {
            return false;
        };
        l.pending += cmds.len();
        self.actions.push(Action::Send {
            link: LinkId {
                inst: i.id,
                kind: LinkKind::Cmd,
                gen: l.gen,
            },
            cmds,
        });
        true
    }

    /// Queues one command on the command link of `i`.
    pub fn send1(&mut self, i: &mut Instance, args: &[&[u8]], tag: Tag) -> bool {
        self.send(i, vec![Cmd::new(args, tag)])
    }

    /// Queues commands on the Pub/Sub link of `i`. The replies owed are
    /// counted for all but SUBSCRIBE ([`Tag::Subscribe`]), whose answer is
    /// a subscription message: what comes after the counted replies is
    /// for the subscription.
    pub fn send_pubsub(&mut self, i: &mut Instance, cmds: Vec<Cmd>) -> bool {
        let Some(l) = i.links.pubsub.as_mut() else {
            return false;
        };
        l.pending += cmds.iter().filter(|c| c.tag != Tag::Subscribe).count();
        self.actions.push(Action::Send {
            link: LinkId {
                inst: i.id,
                kind: LinkKind::PubSub,
                gen: l.gen,
            },
            cmds,
        });
        true
    }

    /// Drops the command link of `i`, if any.
    pub fn close_cmd(&mut self, i: &mut Instance) {
        if let Some(l) = i.links.cmd.take() {
            self.actions.push(Action::Close {
                link: LinkId {
                    inst: i.id,
                    kind: LinkKind::Cmd,
                    gen: l.gen,
                },
            });
        }
    }

    /// Drops the Pub/Sub link of `i`, if any.
    pub fn close_pubsub(&mut self, i: &mut Instance) {
        if let Some(l) = i.links.pubsub.take() {
            self.actions.push(Action::Close {
                link: LinkId {
                    inst: i.id,
                    kind: LinkKind::PubSub,
                    gen: l.gen,
                },
            });
        }
    }

    /// Drops both links of `i`; the timer reconnects.
    pub fn close_links(&mut self, i: &mut Instance) {
        self.close_cmd(i);
        self.close_pubsub(i);
        i.forget_links();
    }
}
