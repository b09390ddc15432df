//! The journal: the single ordered stream of dataset changes.
//!
//! Every change is recorded here once, as the deterministic command that
//! reproduces its effect (DESIGN.md lists the rewriting rules). Replication
//! and the AOF are its consumers and nothing else writes to them.
//!
//! Effects are collected per command execution and released by
//! [`Journal::end_command`]. When one execution produced several effects
//! (a lazy-expiry `DEL` followed by the command itself, say), Redis 7.0
//! wraps them in `MULTI`/`EXEC` so a replica applies them atomically; we do
//! the same, except for commands that touch arbitrary keys, which Redis
//! propagates unwrapped. A transaction is one execution: the commands EXEC
//! runs release nothing themselves, so its effects leave together when EXEC
//! ends (unwrapped when there is only one, nothing for a read-only one, as
//! Redis 7.0 does).
//!
//! Commands are encoded to RESP once, into a buffer reused across commands,
//! which is the form both consumers need.

use command_meta::Argv;

/// A consumer of the journal (replication backlog, AOF, test capture).
/// Which consumers an effect goes to (`redis.set_repl`).
pub mod target {
    pub const AOF: u8 = 1;
    pub const REPLICAS: u8 = 2;
    pub const ALL: u8 = AOF | REPLICAS;
}

pub trait JournalSink {
    /// Receives one command in RESP form, to apply to database `db`.
    fn append(&mut self, db: usize, command: &[u8]);

    /// Whether the sink keeps what it is given at the moment. When no sink
    /// does (no replica has ever attached and there is no AOF), the journal
    /// does not encode effects at all, as Redis does not feed a backlog it
    /// has not created: about a sixth of a SET's instructions.
    fn active(&self) -> bool {
        true
    }

    /// Which effects the sink takes: `target::AOF`, `target::REPLICAS`, or
    /// all of them (test captures).
    fn target(&self) -> u8 {
        target::ALL
    }
}

#[derive(Default)]
pub struct Journal {
    /// RESP-encoded effects of the current command, with their databases.
    pending: Vec<u8>,
    ops: Vec<(usize, usize, usize)>,
    /// Consumers of each op (`target`), parallel to `ops`; empty while
    /// every op goes everywhere.
    targets: Vec<u8>,
    sinks: Vec<Box<dyn JournalSink>>,
    /// Commands released so far (for tests and INFO).
    pub released: u64,
    /// Set while the dataset is reloaded from its own files (`DEBUG
    /// LOADAOF`): what is loaded is already in them, nothing is recorded.
    pub muted: bool,
}

impl Journal {
    pub fn add_sink(&mut self, sink: Box<dyn JournalSink>) {
        self.sinks.push(sink);
    }

    fn encode_header(&mut self, n: usize) {
        resp::command::push_command_header(&mut self.pending, n);
    }

    fn encode_arg(&mut self, a: &[u8]) {
        resp::command::push_command_arg(&mut self.pending, a);
    }

    /// Whether any sink would keep an effect recorded now (a command whose
    /// effects are costly to spell out may skip them when not).
    pub fn wanted(&self) -> bool {
        !self.muted && self.sinks.iter().any(|s| s.active())
    }

    /// Records `args` as an effect on database `db`.
    pub fn propagate(&mut self, db: usize, args: &[&[u8]]) {
        if !self.wanted() {
            return;
        }
        let start = self.pending.len();
        self.encode_header(args.len());
        for a in args {
            self.encode_arg(a);
        }
        self.ops.push((db, start, self.pending.len()));
    }

    /// Records the request itself as its effect.
    pub fn propagate_argv(&mut self, db: usize, argv: Argv) {
        if !self.wanted() {
            return;
        }
        let start = self.pending.len();
        self.encode_header(argv.len());
        for a in argv.iter() {
            self.encode_arg(a);
        }
        self.ops.push((db, start, self.pending.len()));
    }

    /// Effects recorded so far by the command running now.
    pub fn pending_ops(&self) -> usize {
        self.ops.len()
    }

    /// Sends the effects recorded since `mark` only to `to` (a script's
    /// `redis.set_repl`): none, the AOF, the replicas, or both.
    pub fn restrict_since(&mut self, mark: usize, to: u8) {
        if self.targets.len() < self.ops.len() {
            self.targets.resize(self.ops.len(), target::ALL);
        }
        for t in &mut self.targets[mark.min(self.ops.len())..] {
            *t &= to;
        }
    }

    /// Whether the command running now has recorded effects not yet
    /// released (inside EXEC, say): a snapshot taken now would hold them
    /// and the stream after it too.
    pub fn has_pending(&self) -> bool {
        !self.ops.is_empty()
    }

    /// Releases the effects of the command that just ran to the sinks,
    /// wrapped in `MULTI`/`EXEC` when there are several and `may_wrap`.
    pub fn end_command(&mut self, may_wrap: bool) {
        if self.ops.is_empty() {
            return;
        }
        if !self.targets.is_empty() {
            self.targets.resize(self.ops.len(), target::ALL);
        }
        for sink in &mut self.sinks {
            let to = sink.target();
            let wanted = |i: usize| self.targets.get(i).is_none_or(|t| t & to != 0);
            let mut ops = self.ops.iter().enumerate().filter(|(i, _)| wanted(*i));
            let Some((_, &(first_db, _, _))) = ops.clone().next() else {
                continue;
            };
            let wrap = may_wrap && ops.clone().nth(1).is_some();
            if wrap {
                sink.append(first_db, b"*1\r\n$5\r\nMULTI\r\n");
            }
            // EXEC goes out in the database the stream is in by then, so
            // no SELECT comes between the last effect and EXEC (Redis's
            // order).
            let mut last_db = first_db;
            for (_, &(db, s, e)) in ops.by_ref() {
                sink.append(db, &self.pending[s..e]);
                last_db = db;
            }
            if wrap {
                sink.append(last_db, b"*1\r\n$4\r\nEXEC\r\n");
            }
        }
        self.released += self.ops.len() as u64;
        self.ops.clear();
        self.targets.clear();
        self.pending.clear();
    }
}

/// A sink that decodes and keeps everything, for tests.
#[derive(Clone, Default)]
pub struct Capture(pub std::rc::Rc<std::cell::RefCell<Vec<CapturedOp>>>);

/// A captured effect: database and arguments.
pub type CapturedOp = (usize, Vec<Vec<u8>>);

impl JournalSink for Capture {
    fn append(&mut self, db: usize, command: &[u8]) {
        let mut req = resp::Request::default();
        if let resp::Parsed::Complete { .. } =
            resp::parse_request(command, &resp::Limits::default(), &mut req)
        {
            let args = req
                .ranges
                .iter()
                .map(|&(s, e)| command[s..e].to_vec())
                .collect();
            self.0.borrow_mut().push((db, args));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A sink that keeps nothing, like the replication feed before the
    /// first replica.
    struct Idle(std::rc::Rc<std::cell::Cell<usize>>);

    impl JournalSink for Idle {
        fn append(&mut self, _db: usize, _command: &[u8]) {
            self.0.set(self.0.get() + 1);
        }

        fn active(&self) -> bool {
            false
        }
    }

    #[test]
    fn effects_nobody_keeps_are_not_encoded() {
        let calls = std::rc::Rc::new(std::cell::Cell::new(0));
        let mut j = Journal::default();
        j.add_sink(Box::new(Idle(calls.clone())));
        j.propagate(0, &[b"DEL", b"k"]);
        j.end_command(true);
        assert_eq!((calls.get(), j.released, j.pending.len()), (0, 0, 0));

        // One interested sink is enough: every sink gets the effect.
        let capture = Capture::default();
        j.add_sink(Box::new(capture.clone()));
        j.propagate(0, &[b"DEL", b"k"]);
        j.end_command(true);
        assert_eq!(calls.get(), 1);
        assert_eq!(capture.0.borrow().len(), 1);
    }
}
