//! Streams to and from their RDB form, and the commands an AOF rewrite
//! writes for them.
//!
//! A node goes to the file as the listpack Redis 7.0 would hold for it —
//! master entry, entries with their flags and ID deltas, deleted entries
//! included, integers as integers — so a real Redis loading our file
//! (full sync to a Redis replica, `redis-check-rdb`, a DUMP restored into
//! Redis) gets the very nodes it would have built, and keeps splitting
//! and trimming them where we would.
//!
//! Loading checks every listpack as Redis's deep integrity check does
//! (`sanitize-dump-payload yes`), always: our nodes are rebuilt from the
//! listpack's elements, so a malformed one is refused with a reason
//! rather than stored.

use keyspace::stream::node::{Node, FLAG_DELETED, FLAG_SAMEFIELDS};
use keyspace::stream::{Elem, Group, StreamId};
use keyspace::Stream;
use rdb::encodings::{listpack_iter, ListpackBuilder, LpElem};
use rdb::{RdbConsumer, RdbGroup, RdbStream, Writer};
use std::borrow::Cow;
use std::io::{self, Write};

fn pair(id: StreamId) -> rdb::RdbStreamId {
    (id.ms, id.seq)
}

fn unpair(p: rdb::RdbStreamId) -> StreamId {
    StreamId::new(p.0, p.1)
}

// ---------------------------------------------------------------------------
// Writing
// ---------------------------------------------------------------------------

/// The listpack Redis would hold for `node` (master ID `master`).
pub fn node_listpack(master: StreamId, node: &Node) -> Vec<u8> {
    let mut lp = ListpackBuilder::new();
    let push = |lp: &mut ListpackBuilder, e: Elem| match e {
        Elem::Int(n) => lp.push_int(n),
        Elem::Str(s) => lp.push_str(s),
    };
    let fields: Vec<Vec<u8>> = node.master_fields().map(|f| f.to_vec()).collect();
    lp.push_int(node.live() as i64);
    lp.push_int(node.deleted() as i64);
    lp.push_int(fields.len() as i64);
    for f in &fields {
        lp.push_str(f);
    }
    lp.push_int(0);
    for e in node.entries(master) {
        let same = e.flags & FLAG_SAMEFIELDS != 0;
        lp.push_int(i64::from(e.flags));
        lp.push_int(e.id.ms.wrapping_sub(master.ms) as i64);
        lp.push_int(e.id.seq.wrapping_sub(master.seq) as i64);
        if !same {
            lp.push_int(e.nfields as i64);
        }
        for (f, v) in node.pairs(&e) {
            if !same {
                push(&mut lp, f);
            }
            push(&mut lp, v);
        }
        let n = e.nfields as i64;
        lp.push_int(n + 3 + if same { 0 } else { n + 1 });
    }
    lp.finish()
}

/// The counters and groups of `s` in RDB form (no nodes).
pub fn rdb_meta(s: &Stream) -> RdbStream {
    let log = s.log();
    let groups = s
        .groups()
        .iter()
        .map(|(name, g)| RdbGroup {
            name: name.to_vec(),
            last_id: pair(g.last_id),
            entries_read: Some(g.entries_read),
            pel: g
                .pel()
                .iter()
                .map(|(id, n)| (id.to_be_bytes(), n.delivery_time, n.delivery_count))
                .collect(),
            consumers: g
                .consumers()
                .map(|c| RdbConsumer {
                    name: c.name.to_vec(),
                    seen_time: c.seen_time,
                    active_time: None,
                    pel: c.pending().iter().map(|id| id.to_be_bytes()).collect(),
                })
                .collect(),
        })
        .collect();
    RdbStream {
        nodes: Vec::new(),
        length: log.len(),
        last_id: pair(log.last_id()),
        first_id: Some(pair(log.first_id())),
        max_deleted_id: pair(log.max_deleted()),
        entries_added: Some(log.entries_added()),
        groups,
    }
}

/// Writes `s` as an RDB record (type 19), one node's listpack at a time.
pub fn write_stream<W: Write>(
    w: &mut Writer<W>,
    key: &[u8],
    s: &Stream,
    expire_ms: Option<i64>,
) -> io::Result<()> {
    let log = s.log();
    let nodes = log
        .nodes()
        .map(|(master, node)| (master.to_be_bytes(), node_listpack(master, node)));
    w.put_stream(key, expire_ms, log.node_count(), nodes, &rdb_meta(s))
}

// ---------------------------------------------------------------------------
// Loading
// ---------------------------------------------------------------------------

/// Redis's reason for any listpack of a stream that fails its check.
const BAD_NODE: &str = "Stream listpack integrity check failed.";

fn int(e: Option<Result<LpElem, &'static str>>) -> Result<i64, String> {
    match e {
        Some(Ok(LpElem::Int(n))) => Ok(n),
        // Redis reads integers stored as text too.
        Some(Ok(LpElem::Str(s))) => std::str::from_utf8(s)
            .ok()
            .and_then(|t| t.parse().ok())
            .ok_or_else(|| BAD_NODE.to_string()),
        Some(Err(_)) | None => Err(BAD_NODE.to_string()),
    }
}

fn text(e: Option<Result<LpElem, &'static str>>) -> Result<Vec<u8>, String> {
    text_ref(e).map(Cow::into_owned)
}

/// An element's text, borrowed from the listpack unless it is an integer.
fn text_ref<'a>(e: Option<Result<LpElem<'a>, &'static str>>) -> Result<Cow<'a, [u8]>, String> {
    match e {
        Some(Ok(LpElem::Str(s))) => Ok(Cow::Borrowed(s)),
        Some(Ok(LpElem::Int(n))) => Ok(Cow::Owned(n.to_string().into_bytes())),
        Some(Err(_)) | None => Err(BAD_NODE.to_string()),
    }
}

/// An element's text, borrowed from a listpack or formatted.
type Text<'a> = Cow<'a, [u8]>;

/// Rebuilds one node from its listpack (`streamValidateListpackIntegrity`
/// in deep mode, decoding as it checks).
fn load_node(master: StreamId, lp: &[u8]) -> Result<Node, String> {
    let mut it = listpack_iter(lp)
        .map_err(|_| BAD_NODE.to_string())?
        .peekable();
    if it.peek().is_none() {
        return Err("Empty listpack inside stream".into());
    }
    let count = int(it.next())?;
    let deleted = int(it.next())?;
    let nfields = int(it.next())?;
    if !(0..=i64::from(u32::MAX)).contains(&nfields) || count < 0 || deleted < 0 {
        return Err(BAD_NODE.into());
    }
    let mut fields = Vec::with_capacity(nfields.min(1024) as usize);
    for _ in 0..nfields {
        fields.push(text(it.next())?);
    }
    if int(it.next())? != 0 {
        return Err(BAD_NODE.into());
    }
    let field_refs: Vec<&[u8]> = fields.iter().map(Vec::as_slice).collect();
    let mut node = Node::with_fields(&field_refs, lp.len());
    for _ in 0..count.saturating_add(deleted) {
        let flags = int(it.next())?;
        let ms = int(it.next())? as u64;
        let seq = int(it.next())? as u64;
        let id = StreamId::new(master.ms.wrapping_add(ms), master.seq.wrapping_add(seq));
        let same = flags & i64::from(FLAG_SAMEFIELDS) != 0;
        let n = if same {
            nfields
        } else {
            let n = int(it.next())?;
            if !(0..=i64::from(u32::MAX)).contains(&n) {
                return Err(BAD_NODE.into());
            }
            n
        };
        // Same-fields entries hold values only; their fields are the
        // master's, which the node has already.
        let mut texts: Vec<(Text, Text)> = Vec::with_capacity(n.min(1024) as usize);
        for _ in 0..n {
            let f = if same {
                Cow::Borrowed(&[][..])
            } else {
                text_ref(it.next())?
            };
            texts.push((f, text_ref(it.next())?));
        }
        let lp_count = int(it.next())?;
        let extra = if same { 3 } else { 3 + n + 1 };
        if lp_count != n + extra {
            return Err(BAD_NODE.into());
        }
        let pairs: Vec<(&[u8], &[u8])> = texts.iter().map(|(f, v)| (&**f, &**v)).collect();
        let flags = (flags & i64::from(FLAG_DELETED | FLAG_SAMEFIELDS)) as u8;
        node.push(master, id, flags, &pairs);
    }
    if it.next().is_some() {
        return Err(BAD_NODE.into());
    }
    node.shrink();
    Ok(node)
}

/// Builds a stream from its RDB form, with the checks Redis makes when
/// loading one (and a few more that keep our counters consistent).
pub fn stream_from_rdb(r: RdbStream) -> Result<Stream, String> {
    let mut s = Stream::new();
    let mut live = 0u64;
    {
        let log = s.log_mut();
        for (key, lp) in &r.nodes {
            let master = StreamId::from_be_bytes(key);
            let node = load_node(master, lp)?;
            live += node.live();
            if !log.insert_node(master, node) {
                return Err("Listpack re-added with existing key".into());
            }
        }
    }
    if live != r.length {
        return Err("Stream length inconsistent with its entries".into());
    }
    let log = s.log_mut();
    log.set_last_id(unpair(r.last_id));
    log.set_max_deleted(unpair(r.max_deleted_id));
    log.set_entries_added(r.entries_added.unwrap_or(r.length));
    let first = match r.first_id {
        Some(f) => unpair(f),
        // Older files: the first live entry, as Redis works it out.
        None => log.first_entry_id(true).unwrap_or(StreamId::MAX),
    };
    log.set_counters(r.length, first);
    for g in r.groups {
        let last = unpair(g.last_id);
        let read = match g.entries_read {
            Some(n) => n,
            None => s.log().estimate_distance(last),
        };
        if !s.create_group(&g.name, last, read) {
            return Err(format!(
                "Duplicated consumer group name {}",
                String::from_utf8_lossy(&g.name)
            ));
        }
        let Some(group) = s.group_mut(&g.name) else {
            continue;
        };
        load_group(group, g)?;
    }
    Ok(s)
}

fn load_group(group: &mut Group, g: RdbGroup) -> Result<(), String> {
    for (id, time, count) in &g.pel {
        if !group.load_pending(StreamId::from_be_bytes(id), *time, *count) {
            return Err("Duplicated global PEL entry loading stream consumer group".into());
        }
    }
    for c in g.consumers {
        let Some(r) = group.create_consumer(&c.name, c.seen_time) else {
            return Err("Duplicate stream consumer detected.".into());
        };
        for id in &c.pel {
            group.load_owner(StreamId::from_be_bytes(id), r)?;
        }
    }
    if !group.all_owned() {
        return Err("Stream CG PEL entry without consumer".into());
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// AOF rewrite
// ---------------------------------------------------------------------------

/// The commands that rebuild `s` under `key`, as Redis's
/// `rewriteStreamObject` writes them: XADDs (or `XADD key MAXLEN 0 0-1 x y`
/// for an empty stream), an XSETID with the counters, then per group an
/// `XGROUP CREATE ... ENTRIESREAD`, an XCLAIM per pending entry and an
/// `XGROUP CREATECONSUMER` per consumer without any.
pub fn aof_commands(key: &[u8], s: &Stream, out: &mut Vec<u8>) {
    let log = s.log();
    if log.is_empty() {
        resp::encode_command(out, &[b"XADD", key, b"MAXLEN", b"0", b"0-1", b"x", b"y"]);
    } else {
        for e in log.range(StreamId::MIN, StreamId::MAX, false) {
            let id = e.id.to_vec();
            let texts: Vec<Vec<u8>> = e
                .pairs()
                .flat_map(|(f, v)| [f.to_vec(), v.to_vec()])
                .collect();
            let mut args: Vec<&[u8]> = vec![b"XADD", key, &id];
            args.extend(texts.iter().map(Vec::as_slice));
            resp::encode_command(out, &args);
        }
    }
    let last = log.last_id().to_vec();
    let added = log.entries_added().to_string().into_bytes();
    let max_del = log.max_deleted().to_vec();
    resp::encode_command(
        out,
        &[
            b"XSETID",
            key,
            &last,
            b"ENTRIESADDED",
            &added,
            b"MAXDELETEDID",
            &max_del,
        ],
    );
    for (name, g) in s.groups() {
        let gid = g.last_id.to_vec();
        let read = g.entries_read.to_string().into_bytes();
        resp::encode_command(
            out,
            &[b"XGROUP", b"CREATE", key, name, &gid, b"ENTRIESREAD", &read],
        );
        for c in g.consumers() {
            if c.pending().is_empty() {
                let args: [&[u8]; 5] = [b"XGROUP", b"CREATECONSUMER", key, name, &c.name];
                resp::encode_command(out, &args);
                continue;
            }
            for id in c.pending() {
                let Some(n) = g.nack(*id) else { continue };
                let idt = id.to_vec();
                let time = n.delivery_time.to_string().into_bytes();
                let count = n.delivery_count.to_string().into_bytes();
                resp::encode_command(
                    out,
                    &[
                        b"XCLAIM",
                        key,
                        name,
                        &c.name,
                        b"0",
                        &idt,
                        b"TIME",
                        &time,
                        b"RETRYCOUNT",
                        &count,
                        b"JUSTID",
                        b"FORCE",
                    ],
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use keyspace::stream::{IdSpec, NodeLimits};

    /// Everything a file carries about `s`, as text.
    fn view(s: &Stream) -> String {
        let mut out = String::new();
        for (master, node) in s.log().nodes() {
            out += &format!("{master} {:?}\n", node_listpack(master, node));
        }
        let m = rdb_meta(s);
        out += &format!("{m:?}\n");
        out
    }

    fn sample() -> Stream {
        let mut s = Stream::new();
        let limits = NodeLimits {
            max_bytes: 120,
            max_entries: 4,
        };
        for i in 1..=30u64 {
            let log = s.log_mut();
            let id = log.next_id(IdSpec::Ms(i * 3), 0).unwrap_or_default();
            let v = i.to_string();
            let pairs: Vec<(&[u8], &[u8])> = if i % 7 == 0 {
                vec![(b"other", b"-12"), (b"x", b"")]
            } else {
                vec![(b"f", v.as_bytes()), (b"g", b"text value")]
            };
            assert_eq!(log.append(id, &pairs, limits), Ok(()));
        }
        let log = s.log_mut();
        for ms in [3, 30, 31] {
            log.delete(StreamId::new(ms, 0));
        }
        log.trim(
            keyspace::stream::Trim::MinId(StreamId::new(12, 0)),
            false,
            0,
        );
        log.refresh_first_id();
        assert!(s.create_group(b"g", StreamId::MIN, -1));
        assert!(s.create_group(b"h", StreamId::new(60, 0), 20));
        if let Some(g) = s.group_mut(b"g") {
            let zed = g.create_consumer(b"zed", 5).unwrap_or_default();
            let amy = g.create_consumer(b"amy", 6).unwrap_or_default();
            g.create_consumer(b"idle", 7);
            g.deliver(StreamId::new(15, 0), zed, 100);
            g.deliver(StreamId::new(18, 0), amy, 101);
            g.claim(StreamId::new(15, 0), amy, 102, 3);
            g.deliver(StreamId::new(21, 0), zed, 103);
        }
        s
    }

    #[test]
    fn a_stream_round_trips_through_its_rdb_form() {
        let s = sample();
        let mut w = Writer::new(Vec::new(), true, true).unwrap_or_else(|e| panic!("{e}"));
        write_stream(&mut w, b"k", &s, None).unwrap_or_else(|e| panic!("{e}"));
        let bytes = w.finish().unwrap_or_else(|e| panic!("{e}"));
        let mut r = rdb::Reader::new(bytes.as_slice()).unwrap_or_else(|e| panic!("{e}"));
        let Ok(Some(rdb::Item::Entry {
            value: rdb::RdbValue::Stream(got),
            ..
        })) = r.next_item()
        else {
            panic!("no stream read back");
        };
        let back = stream_from_rdb(*got).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(view(&back), view(&s));
        assert_eq!(back.log().len(), s.log().len());
        assert_eq!(back.log().first_id(), s.log().first_id());
        let mut a = Vec::new();
        let mut b = Vec::new();
        aof_commands(b"k", &s, &mut a);
        aof_commands(b"k", &back, &mut b);
        assert_eq!(a, b);
    }

    #[test]
    fn corrupt_nodes_are_refused_with_a_reason() {
        let s = sample();
        let (master, node) = s.log().nodes().next().unwrap_or_else(|| panic!("no node"));
        let good = node_listpack(master, node);
        assert!(load_node(master, &good).is_ok());
        for cut in [0, 6, good.len() / 2, good.len() - 1] {
            assert!(load_node(master, &good[..cut]).is_err(), "cut at {cut}");
        }
        let mut meta = rdb_meta(&s);
        meta.length += 1;
        assert!(stream_from_rdb(meta).is_err());
    }
}
