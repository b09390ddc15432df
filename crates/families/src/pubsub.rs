//! Pub/Sub commands: (P|S)SUBSCRIBE, (P|S)UNSUBSCRIBE, PUBLISH, SPUBLISH
//! and the PUBSUB introspection subcommands. The registry and the delivery
//! of messages live in `server::pubsub`.
//!
//! Confirmations are pushes (`>3` in RESP3, arrays in RESP2), one per
//! channel named, each carrying the client's subscription count after that
//! step, as Redis sends them.

use crate::client::help_reply;
use server::client::Client;
use server::cmd::{Ctx, Handler};
use server::pubsub::Kind;
use server::server::Server;

pub const COMMANDS: &[(&str, Handler)] = &[
    ("subscribe", subscribe),
    ("unsubscribe", unsubscribe),
    ("psubscribe", psubscribe),
    ("punsubscribe", punsubscribe),
    ("ssubscribe", ssubscribe),
    ("sunsubscribe", sunsubscribe),
    ("publish", publish),
    ("spublish", spublish),
    ("pubsub|channels", pubsub_channels),
    ("pubsub|numsub", pubsub_numsub),
    ("pubsub|numpat", pubsub_numpat),
    ("pubsub|shardchannels", pubsub_shardchannels),
    ("pubsub|shardnumsub", pubsub_shardnumsub),
    ("pubsub|help", pubsub_help),
];

/// One (un)subscribe confirmation: verb, channel (null for an
/// UNSUBSCRIBE-all with nothing to drop) and the count after it.
fn confirm(client: &mut Client, verb: &[u8], name: Option<&[u8]>, count: usize) {
    let out = &mut client.out;
    let start = out.buf.len();
    out.push(3);
    out.bulk(verb);
    match name {
        Some(n) => out.bulk(n),
        None => out.null(),
    }
    out.int(count as i64);
    // Confirmations are messages, sent even under CLIENT REPLY OFF.
    out.mark_push(start);
}

fn subscribe_kind(ctx: &mut Ctx, kind: Kind) {
    let argv = ctx.argv;
    let (srv, client) = ctx.parts();
    let id = client.id;
    for name in argv.from(1) {
        srv.pubsub.subscribe(&mut client.subs, id, kind, name);
        let n = client.subs.count_for(kind);
        confirm(client, kind.subscribe_verb(), Some(name), n);
    }
}

/// Drops the named subscriptions, or all of this kind when none is named.
fn unsubscribe_kind(ctx: &mut Ctx, kind: Kind) {
    let argv = ctx.argv;
    let (srv, client) = ctx.parts();
    let id = client.id;
    let names: Vec<Vec<u8>> = if argv.len() > 1 {
        argv.from(1).map(<[u8]>::to_vec).collect()
    } else {
        let subs = &client.subs;
        match kind {
            Kind::Channel => subs.channels.iter().cloned().collect(),
            Kind::Pattern => subs.patterns.clone(),
            Kind::Shard => subs.shard.iter().cloned().collect(),
        }
    };
    if names.is_empty() {
        let n = client.subs.count_for(kind);
        confirm(client, kind.unsubscribe_verb(), None, n);
        return;
    }
    for name in &names {
        srv.pubsub.unsubscribe(&mut client.subs, id, kind, name);
        let n = client.subs.count_for(kind);
        confirm(client, kind.unsubscribe_verb(), Some(name), n);
    }
}

fn subscribe(ctx: &mut Ctx) {
    subscribe_kind(ctx, Kind::Channel)
}

fn unsubscribe(ctx: &mut Ctx) {
    unsubscribe_kind(ctx, Kind::Channel)
}

fn psubscribe(ctx: &mut Ctx) {
    subscribe_kind(ctx, Kind::Pattern)
}

fn punsubscribe(ctx: &mut Ctx) {
    unsubscribe_kind(ctx, Kind::Pattern)
}

fn ssubscribe(ctx: &mut Ctx) {
    subscribe_kind(ctx, Kind::Shard)
}

fn sunsubscribe(ctx: &mut Ctx) {
    unsubscribe_kind(ctx, Kind::Shard)
}

fn publish(ctx: &mut Ctx) {
    let (channel, msg) = (ctx.argv.get(1), ctx.argv.get(2));
    let n = ctx.srv.publish(channel, msg);
    ctx.flush_pushes();
    // Replicas publish it to their own subscribers, as Redis's do.
    ctx.force_propagation_to_replicas();
    ctx.out().int(n as i64);
}

fn spublish(ctx: &mut Ctx) {
    let (channel, msg) = (ctx.argv.get(1), ctx.argv.get(2));
    let n = ctx.srv.publish_shard(channel, msg);
    ctx.flush_pushes();
    ctx.force_propagation_to_replicas();
    ctx.out().int(n as i64);
}

fn list_channels(ctx: &mut Ctx, kind: Kind) {
    if ctx.argv.len() > 3 {
        let msg = server::errors::subcommand_syntax(ctx.argv.get(1), "pubsub");
        return ctx.err(&msg);
    }
    let pattern = (ctx.argv.len() == 3).then(|| ctx.argv.get(2));
    let (srv, client) = ctx.parts();
    let names = srv.pubsub.names(kind, pattern);
    client.out.array(names.len());
    for n in names {
        client.out.bulk(n);
    }
}

fn count_subscribers(ctx: &mut Ctx, kind: Kind) {
    let argv = ctx.argv;
    let (srv, client): (&mut Server, &mut Client) = ctx.parts();
    client.out.array((argv.len() - 2) * 2);
    for name in argv.from(2) {
        client.out.bulk(name);
        client.out.int(srv.pubsub.subscribers(kind, name) as i64);
    }
}

fn pubsub_channels(ctx: &mut Ctx) {
    list_channels(ctx, Kind::Channel)
}

fn pubsub_shardchannels(ctx: &mut Ctx) {
    list_channels(ctx, Kind::Shard)
}

fn pubsub_numsub(ctx: &mut Ctx) {
    count_subscribers(ctx, Kind::Channel)
}

fn pubsub_shardnumsub(ctx: &mut Ctx) {
    count_subscribers(ctx, Kind::Shard)
}

/// Distinct patterns with a subscriber, not subscriptions: Redis 7.0
/// counts the keys of its pattern table.
fn pubsub_numpat(ctx: &mut Ctx) {
    let n = ctx.srv.pubsub.len(Kind::Pattern);
    ctx.out().int(n as i64);
}

fn pubsub_help(ctx: &mut Ctx) {
    help_reply(
        ctx,
        "PUBSUB <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        &[
            "CHANNELS [<pattern>]",
            "    Channels with at least one subscriber, optionally only those matching",
            "    the glob-style <pattern>.",
            "NUMPAT",
            "    How many distinct patterns have subscribers.",
            "NUMSUB [<channel> ...]",
            "    For each channel, its number of direct subscribers (pattern",
            "    subscriptions are not counted).",
            "SHARDCHANNELS [<pattern>]",
            "    As CHANNELS, for shard channels.",
            "SHARDNUMSUB [<shardchannel> ...]",
            "    As NUMSUB, for shard channels.",
        ],
    );
}

#[cfg(test)]
mod tests {
    use crate::testkit::Kit;

    #[test]
    fn confirmations_count_channels_and_patterns_together() {
        let mut k = Kit::new();
        assert_eq!(
            k.run(&["SUBSCRIBE", "a", "a"]),
            "*3\r\n$9\r\nsubscribe\r\n$1\r\na\r\n:1\r\n*3\r\n$9\r\nsubscribe\r\n$1\r\na\r\n:1\r\n"
        );
        assert_eq!(
            k.run(&["PSUBSCRIBE", "h*"]),
            "*3\r\n$10\r\npsubscribe\r\n$2\r\nh*\r\n:2\r\n"
        );
        assert_eq!(
            k.run(&["SSUBSCRIBE", "s"]),
            "*3\r\n$10\r\nssubscribe\r\n$1\r\ns\r\n:1\r\n"
        );
        assert_eq!(
            k.run(&["GET", "x"]),
            "-ERR Can't execute 'get': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / \
             RESET are allowed in this context\r\n"
        );
        assert_eq!(k.run(&["PING"]), "*2\r\n$4\r\npong\r\n$0\r\n\r\n");
        assert_eq!(
            k.run(&["UNSUBSCRIBE", "zz"]),
            "*3\r\n$11\r\nunsubscribe\r\n$2\r\nzz\r\n:2\r\n"
        );
        k.run(&["UNSUBSCRIBE"]);
        k.run(&["PUNSUBSCRIBE"]);
        assert_eq!(
            k.run(&["PUNSUBSCRIBE"]),
            "*3\r\n$12\r\npunsubscribe\r\n$-1\r\n:0\r\n"
        );
        // Still in Pub/Sub mode through the shard channel.
        assert!(k.run(&["GET", "x"]).starts_with("-ERR Can't"));
        k.run(&["SUNSUBSCRIBE"]);
        assert_eq!(k.run(&["GET", "x"]), "$-1\r\n");
        assert!(k.srv.pubsub.is_empty());
    }

    /// PUBLISH and SPUBLISH go to the replicas as received (Redis 7.0
    /// outside cluster mode), so a replica's subscribers get them too.
    #[test]
    fn publish_is_propagated() {
        let mut k = Kit::new();
        k.run(&["PUBLISH", "c", "m"]);
        k.run(&["SPUBLISH", "s", "m"]);
        assert_eq!(k.propagated(), ["PUBLISH c m", "SPUBLISH s m"]);
    }

    #[test]
    fn publish_reaches_the_publisher_itself_in_resp3() {
        let mut k = Kit::new();
        k.run(&["HELLO", "3"]);
        k.run(&["SUBSCRIBE", "c"]);
        k.run(&["PSUBSCRIBE", "c*"]);
        assert_eq!(
            k.run(&["PUBLISH", "c", "m"]),
            ">3\r\n$7\r\nmessage\r\n$1\r\nc\r\n$1\r\nm\r\n\
             >4\r\n$8\r\npmessage\r\n$2\r\nc*\r\n$1\r\nc\r\n$1\r\nm\r\n:2\r\n"
        );
        assert_eq!(k.run(&["PUBSUB", "NUMPAT"]), ":1\r\n");
        assert_eq!(
            k.run(&["PUBSUB", "NUMSUB", "c", "d"]),
            "*4\r\n$1\r\nc\r\n:1\r\n$1\r\nd\r\n:0\r\n"
        );
        assert_eq!(k.run(&["PUBSUB", "CHANNELS", "x*"]), "*0\r\n");
        assert_eq!(k.run(&["RESET"]), "+RESET\r\n");
        assert!(k.srv.pubsub.is_empty());
        assert_eq!(k.run(&["PUBLISH", "c", "m"]), ":0\r\n");
    }
}
