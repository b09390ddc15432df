//! `ACL LOG`: recent refusals and failed authentications, newest first.
//!
//! As in Redis 7.0, an event like one of the last few (same reason,
//! context, object and user, within a minute) is folded into it: its
//! count goes up and it moves to the front with the latest client's info.

use std::collections::VecDeque;

/// Events closer than this fold into one entry.
const GROUPING_MS: i64 = 60_000;
/// How many recent entries are searched for one to fold into.
const GROUPING_DEPTH: usize = 10;

#[derive(Debug, Clone)]
pub struct LogEntry {
    pub count: u64,
    /// `command`, `key`, `channel` or `auth`.
    pub reason: &'static str,
    /// `toplevel` or `multi`.
    pub context: &'static str,
    pub object: Vec<u8>,
    pub username: Vec<u8>,
    pub ctime_ms: i64,
    pub client_info: String,
}

#[derive(Debug, Default)]
pub struct AclLog {
    pub entries: VecDeque<LogEntry>,
}

impl AclLog {
    pub fn add(&mut self, e: LogEntry, max_len: usize) {
        let found = self.entries.iter().take(GROUPING_DEPTH).position(|o| {
            o.reason == e.reason
                && o.context == e.context
                && o.object == e.object
                && o.username == e.username
                && e.ctime_ms - o.ctime_ms <= GROUPING_MS
        });
        match found.and_then(|i| self.entries.remove(i)) {
            Some(mut o) => {
                o.count += 1;
                o.ctime_ms = e.ctime_ms;
                o.client_info = e.client_info;
                self.entries.push_front(o);
            }
            None => {
                self.entries.push_front(e);
                self.entries.truncate(max_len);
            }
        }
    }

    pub fn reset(&mut self) {
        self.entries.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(object: &str, t: i64) -> LogEntry {
        LogEntry {
            count: 1,
            reason: "command",
            context: "toplevel",
            object: object.as_bytes().to_vec(),
            username: b"u".to_vec(),
            ctime_ms: t,
            client_info: format!("at {t}"),
        }
    }

    #[test]
    fn similar_events_fold_and_move_to_front() {
        let mut log = AclLog::default();
        log.add(entry("get", 0), 128);
        log.add(entry("set", 1), 128);
        log.add(entry("get", 2), 128);
        assert_eq!(log.entries.len(), 2);
        assert_eq!(log.entries[0].object, b"get");
        assert_eq!(log.entries[0].count, 2);
        assert_eq!(log.entries[0].client_info, "at 2");
        // A minute later it is a new entry.
        log.add(entry("get", 70_000), 128);
        assert_eq!(log.entries.len(), 3);
    }

    #[test]
    fn length_is_bounded() {
        let mut log = AclLog::default();
        for i in 0..5 {
            log.add(entry(&format!("c{i}"), i), 3);
        }
        assert_eq!(log.entries.len(), 3);
        assert_eq!(log.entries[0].object, b"c4");
    }
}
