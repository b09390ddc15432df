//! In-process test kit: a server and one client, commands executed through
//! the real dispatch path, replies returned as text and the journal
//! captured — for unit tests of handlers and of their propagated effects.

use command_meta::Argv;
use server::client::Client;
use server::cmd;
use server::config::Config;
use server::journal::Capture;
use server::server::Server;

pub struct Kit {
    pub srv: Server,
    pub client: Client,
    capture: Capture,
}

impl Default for Kit {
    fn default() -> Self {
        Self::new()
    }
}

impl Kit {
    pub fn new() -> Kit {
        let mut srv = Server::new(Config::new(), crate::FAMILIES);
        let capture = Capture::default();
        srv.journal.add_sink(Box::new(capture.clone()));
        let mut client = Client::new(1, srv.now_ms);
        client.authenticated = true;
        Kit {
            srv,
            client,
            capture,
        }
    }

    /// Runs one command; returns the raw reply bytes as (lossy) text.
    pub fn run(&mut self, args: &[&str]) -> String {
        run_as(&mut self.srv, &mut self.client, args)
    }

    /// Another client with id `id` (the kit's own is 1), for tests where
    /// two connections interact (WATCH); run commands with [`Kit::run_on`].
    pub fn new_client(&self, id: u64) -> Client {
        let mut c = Client::new(id, self.srv.now_ms);
        c.authenticated = true;
        c
    }

    /// Runs one command as `client`.
    pub fn run_on(&mut self, client: &mut Client, args: &[&str]) -> String {
        run_as(&mut self.srv, client, args)
    }

    /// Drains the effects propagated so far, each as its arguments joined
    /// by spaces (e.g. `"SET k v PXAT 1700000000000"`).
    pub fn propagated(&mut self) -> Vec<String> {
        self.capture
            .0
            .borrow_mut()
            .drain(..)
            .map(|(_, args)| {
                args.iter()
                    .map(|a| String::from_utf8_lossy(a).into_owned())
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .collect()
    }
}

/// Runs one command through the real dispatch path as `client`; returns
/// the raw reply bytes as (lossy) text.
fn run_as(srv: &mut Server, client: &mut Client, args: &[&str]) -> String {
    let mut buf = Vec::new();
    let mut ranges = Vec::new();
    for a in args {
        let s = buf.len();
        buf.extend_from_slice(a.as_bytes());
        ranges.push((s, buf.len()));
    }
    client.out.buf.clear();
    cmd::execute(srv, client, Argv::new(&buf, &ranges));
    server::blocking::serve_ready(srv);
    String::from_utf8_lossy(&client.out.buf).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_with_relative_expiry_propagates_absolute_pxat() {
        let mut k = Kit::new();
        assert_eq!(k.run(&["SET", "k", "v", "EX", "100"]), "+OK\r\n");
        let p = k.propagated();
        assert_eq!(p.len(), 1);
        let parts: Vec<&str> = p[0].split(' ').collect();
        assert_eq!(&parts[..4], &["SET", "k", "v", "PXAT"]);
        let at: i64 = parts[4].parse().unwrap_or(0);
        assert!((at - k.srv.now_ms - 100_000).abs() < 5_000);
        // A plain SET is propagated verbatim; a failed NX nothing.
        k.run(&["SET", "k", "v2"]);
        k.run(&["SET", "k", "v3", "NX"]);
        assert_eq!(k.propagated(), vec!["SET k v2"]);
    }

    #[test]
    fn lazy_expiry_deletion_and_command_are_wrapped_in_multi() {
        let mut k = Kit::new();
        k.run(&["SET", "k", "v", "PXAT", "1"]);
        k.propagated();
        k.run(&["SET", "k", "v2", "NX"]);
        assert_eq!(
            k.propagated(),
            vec!["MULTI", "DEL k", "SET k v2 NX", "EXEC"]
        );
        k.run(&["SET", "j", "v", "PXAT", "1"]);
        k.propagated();
        assert_eq!(k.run(&["GET", "j"]), "$-1\r\n");
        assert_eq!(k.propagated(), vec!["DEL j"]);
    }
}
