//! GEO commands (`geo.c` in Redis): points are members of a sorted set
//! whose score is the 52-bit geohash of their position (see
//! `util::geohash`), so every sorted-set command works on them too.
//!
//! GEOADD builds a ZADD argument vector and runs ZADD on it, and is
//! propagated as that ZADD, as Redis does. Searches (GEOSEARCH,
//! GEORADIUS and friends) scan the score ranges of the cell holding the
//! centre and its neighbours, in Redis's order, so unsorted results come
//! back in the same order as Redis's.

use super::zsets::{self, store_result, with_zset, AddFlags};
use crate::util::{double, geohash};
use keyspace::ZSet;
use resp::Reply;
use server::cmd::{Ctx, Handler};
use server::errors::{self, WrongType};

pub const COMMANDS: &[(&str, Handler)] = &[
    ("geoadd", geoadd),
    ("geopos", geopos),
    ("geodist", geodist),
    ("geohash", geohash_cmd),
    ("geosearch", geosearch),
    ("geosearchstore", geosearchstore),
    ("georadius", georadius),
    ("georadius_ro", georadius_ro),
    ("georadiusbymember", georadiusbymember),
    ("georadiusbymember_ro", georadiusbymember_ro),
];

/// Parses a longitude/latitude pair and checks it is in the indexable
/// range (Redis's `extractLongLatOrReply`).
fn parse_lonlat(lon: &[u8], lat: &[u8]) -> Result<[f64; 2], String> {
    let (Some(x), Some(y)) = (double::parse(lon), double::parse(lat)) else {
        return Err(errors::NOT_FLOAT.to_string());
    };
    if !(geohash::LONG_MIN..=geohash::LONG_MAX).contains(&x)
        || !(geohash::LAT_MIN..=geohash::LAT_MAX).contains(&y)
    {
        return Err(errors::geo_invalid_pair(x, y));
    }
    Ok([x, y])
}

/// Meters per unit.
fn parse_unit(u: &[u8]) -> Result<f64, &'static str> {
    let u = u.to_ascii_lowercase();
    match u.as_slice() {
        b"m" => Ok(1.0),
        b"km" => Ok(1000.0),
        b"ft" => Ok(0.3048),
        b"mi" => Ok(1609.34),
        _ => Err(errors::GEO_UNIT),
    }
}

/// Longitude and latitude as GEOPOS prints them: `%.17Lf` with trailing
/// zeros (and a trailing dot) removed.
fn reply_coord(out: &mut Reply, v: f64) {
    let mut b = [0u8; 400];
    let s = double::fmt_fixed(v, 17, &mut b);
    let mut end = s.len();
    if s.contains(&b'.') {
        while end > 0 && s[end - 1] == b'0' {
            end -= 1;
        }
        if end > 0 && s[end - 1] == b'.' {
            end -= 1;
        }
    }
    out.double_str(&s[..end]);
}

/// A distance as Redis prints it: always a bulk string with 4 decimals.
fn reply_distance(out: &mut Reply, d: f64) {
    let mut b = [0u8; 400];
    out.bulk(double::fmt_fixed(d, 4, &mut b));
}

/// The sorted set at `key` without touching statistics (the command
/// already looked it up once).
fn peek<'c>(ctx: &'c mut Ctx, key: &[u8]) -> Option<&'c ZSet> {
    match &ctx.db().get(key)?.value {
        keyspace::Value::ZSet(z) => Some(z),
        _ => None,
    }
}

fn position(z: &ZSet, member: &[u8]) -> Option<[f64; 2]> {
    z.score(member).map(|s| geohash::decode_wgs84(s as u64))
}

// ---------------------------------------------------------------------------
// GEOADD, GEOPOS, GEODIST, GEOHASH
// ---------------------------------------------------------------------------

fn geoadd(ctx: &mut Ctx) {
    let argv = ctx.argv;
    let (mut nx, mut xx) = (false, false);
    let mut idx = 2;
    while idx < argv.len() {
        let a = argv.get(idx);
        if a.eq_ignore_ascii_case(b"nx") {
            nx = true;
        } else if a.eq_ignore_ascii_case(b"xx") {
            xx = true;
        } else if !a.eq_ignore_ascii_case(b"ch") {
            break;
        }
        idx += 1;
    }
    if !(argv.len() - idx).is_multiple_of(3) || (nx && xx) {
        return ctx.err(errors::SYNTAX);
    }
    let elements = (argv.len() - idx) / 3;
    let mut scores: Vec<Vec<u8>> = Vec::with_capacity(elements);
    for i in 0..elements {
        let at = idx + 3 * i;
        match parse_lonlat(argv.get(at), argv.get(at + 1)) {
            Ok([x, y]) => {
                let bits = geohash::encode_wgs84(x, y).unwrap_or(0);
                scores.push(itoa::Buffer::new().format(bits).as_bytes().to_vec());
            }
            Err(e) => return ctx.err(&e),
        }
    }
    let mut args: Vec<&[u8]> = Vec::with_capacity(idx + 2 * elements);
    args.push(b"zadd");
    args.extend(argv.iter().skip(1).take(idx - 1));
    for (i, s) in scores.iter().enumerate() {
        args.push(s);
        args.push(argv.get(idx + 3 * i + 2));
    }
    if zsets::zadd_args(ctx, &args, AddFlags::default()) > 0 {
        // Propagated as the ZADD it ran, as Redis does.
        ctx.propagate(&args);
    }
}

fn geopos(ctx: &mut Ctx) {
    let argv = ctx.argv;
    let key = argv.get(1);
    let r = with_zset(ctx, key, |z, out| {
        out.array(argv.len() - 2);
        for m in argv.from(2) {
            match z.and_then(|z| position(z, m)) {
                Some([x, y]) => {
                    out.array(2);
                    reply_coord(out, x);
                    reply_coord(out, y);
                }
                None => out.null_array(),
            }
        }
    });
    if r.is_err() {
        ctx.err(errors::WRONGTYPE);
    }
}

fn geodist(ctx: &mut Ctx) {
    let argv = ctx.argv;
    let key = argv.get(1);
    let to_meters = if argv.len() == 5 {
        match parse_unit(argv.get(4)) {
            Ok(u) => u,
            Err(e) => return ctx.err(e),
        }
    } else if argv.len() > 5 {
        return ctx.err(errors::SYNTAX);
    } else {
        1.0
    };
    let (m1, m2) = (argv.get(2), argv.get(3));
    let r = with_zset(ctx, key, |z, out| {
        match z.and_then(|z| Some((position(z, m1)?, position(z, m2)?))) {
            Some((a, b)) => {
                reply_distance(out, geohash::distance(a[0], a[1], b[0], b[1]) / to_meters)
            }
            None => out.null(),
        }
    });
    if r.is_err() {
        ctx.err(errors::WRONGTYPE);
    }
}

fn geohash_cmd(ctx: &mut Ctx) {
    let argv = ctx.argv;
    let key = argv.get(1);
    let r = with_zset(ctx, key, |z, out| {
        out.array(argv.len() - 2);
        for m in argv.from(2) {
            match z.and_then(|z| z.score(m)) {
                Some(s) => out.bulk(&geohash::to_string(s as u64)),
                None => out.null(),
            }
        }
    });
    if r.is_err() {
        ctx.err(errors::WRONGTYPE);
    }
}

// ---------------------------------------------------------------------------
// Searches
// ---------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// GEORADIUS[_RO] key lon lat radius unit ...
    Coords,
    /// GEORADIUSBYMEMBER[_RO] key member radius unit ...
    Member,
    /// GEOSEARCH key ... / GEOSEARCHSTORE dst key ...
    Search,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sort {
    None,
    Asc,
    Desc,
}

struct Point {
    member: Box<[u8]>,
    dist: f64,
    score: f64,
    xy: [f64; 2],
}

fn georadius(ctx: &mut Ctx) {
    search(ctx, Kind::Coords, 1, true, false);
}

fn georadius_ro(ctx: &mut Ctx) {
    search(ctx, Kind::Coords, 1, false, false);
}

fn georadiusbymember(ctx: &mut Ctx) {
    search(ctx, Kind::Member, 1, true, false);
}

fn georadiusbymember_ro(ctx: &mut Ctx) {
    search(ctx, Kind::Member, 1, false, false);
}

fn geosearch(ctx: &mut Ctx) {
    search(ctx, Kind::Search, 1, false, false);
}

fn geosearchstore(ctx: &mut Ctx) {
    search(ctx, Kind::Search, 2, false, true);
}

/// Parses a radius and its unit; returns meters per unit and the radius.
fn parse_distance(d: &[u8], unit: &[u8]) -> Result<(f64, f64), &'static str> {
    let d = double::parse(d).ok_or(errors::GEO_NEED_RADIUS)?;
    if d < 0.0 {
        return Err(errors::GEO_RADIUS_NEGATIVE);
    }
    Ok((parse_unit(unit)?, d))
}

/// Redis's `georadiusGeneric`, following its order of checks.
fn search(ctx: &mut Ctx, kind: Kind, src_idx: usize, can_store: bool, searchstore: bool) {
    let argv = ctx.argv;
    let src = argv.get(src_idx);
    // The source is looked up first (once, for the statistics and lazy
    // expiry): WRONGTYPE beats every argument error. Later reads peek.
    let exists = match with_zset(ctx, src, |z, _| z.is_some()) {
        Err(WrongType) => return ctx.err(errors::WRONGTYPE),
        Ok(e) => e,
    };
    let mut center: Option<[f64; 2]> = None;
    let mut shape: Option<geohash::Shape> = None;
    let mut conversion = 1.0;
    let base = match kind {
        Kind::Coords => {
            match parse_lonlat(argv.get(2), argv.get(3)) {
                Ok(c) => center = Some(c),
                Err(e) => return ctx.err(&e),
            }
            match parse_distance(argv.get(4), argv.get(5)) {
                Ok((u, r)) => {
                    conversion = u;
                    shape = Some(geohash::Shape::Radius(r * u));
                }
                Err(e) => return ctx.err(e),
            }
            6
        }
        Kind::Member => {
            if exists {
                match peek(ctx, src).and_then(|z| position(z, argv.get(2))) {
                    Some(c) => center = Some(c),
                    None => return ctx.err(errors::GEO_NO_MEMBER),
                }
                match parse_distance(argv.get(3), argv.get(4)) {
                    Ok((u, r)) => {
                        conversion = u;
                        shape = Some(geohash::Shape::Radius(r * u));
                    }
                    Err(e) => return ctx.err(e),
                }
            }
            5
        }
        Kind::Search => src_idx + 1,
    };
    let (mut withdist, mut withhash, mut withcoord) = (false, false, false);
    let (mut frommember, mut fromloc, mut byradius, mut bybox) = (false, false, false, false);
    let mut sort = Sort::None;
    let mut any = false;
    let mut count: i64 = 0;
    let mut storekey: Option<&[u8]> = if searchstore { Some(argv.get(1)) } else { None };
    let mut storedist = false;
    let search_kind = kind == Kind::Search;
    let remaining = argv.len().saturating_sub(base);
    let mut i = 0;
    while i < remaining {
        let a = argv.get(base + i);
        let is = |s: &[u8]| a.eq_ignore_ascii_case(s);
        let arg = |k: usize| argv.get(base + i + k);
        if is(b"withdist") {
            withdist = true;
        } else if is(b"withhash") {
            withhash = true;
        } else if is(b"withcoord") {
            withcoord = true;
        } else if is(b"any") {
            any = true;
        } else if is(b"asc") {
            sort = Sort::Asc;
        } else if is(b"desc") {
            sort = Sort::Desc;
        } else if is(b"count") && i + 1 < remaining {
            match resp::parse_i64(arg(1)) {
                None => return ctx.err(errors::NOT_INTEGER),
                Some(n) if n <= 0 => return ctx.err(errors::GEO_COUNT),
                Some(n) => count = n,
            }
            i += 1;
        } else if (is(b"store") || is(b"storedist"))
            && i + 1 < remaining
            && can_store
            && !search_kind
        {
            storekey = Some(arg(1));
            storedist = is(b"storedist");
            i += 1;
        } else if is(b"storedist") && searchstore {
            storedist = true;
        } else if is(b"frommember") && i + 1 < remaining && search_kind && !fromloc {
            if exists {
                match peek(ctx, src).and_then(|z| position(z, arg(1))) {
                    Some(c) => center = Some(c),
                    None => return ctx.err(errors::GEO_NO_MEMBER),
                }
            }
            frommember = true;
            i += 1;
        } else if is(b"fromlonlat") && i + 2 < remaining && search_kind && !frommember {
            match parse_lonlat(arg(1), arg(2)) {
                Ok(c) => center = Some(c),
                Err(e) => return ctx.err(&e),
            }
            fromloc = true;
            i += 2;
        } else if is(b"byradius") && i + 2 < remaining && search_kind && !bybox {
            match parse_distance(arg(1), arg(2)) {
                Ok((u, r)) => {
                    conversion = u;
                    shape = Some(geohash::Shape::Radius(r * u));
                }
                Err(e) => return ctx.err(e),
            }
            byradius = true;
            i += 2;
        } else if is(b"bybox") && i + 3 < remaining && search_kind && !byradius {
            let Some(w) = double::parse(arg(1)) else {
                return ctx.err(errors::GEO_NEED_WIDTH);
            };
            let Some(h) = double::parse(arg(2)) else {
                return ctx.err(errors::GEO_NEED_HEIGHT);
            };
            if w < 0.0 || h < 0.0 {
                return ctx.err(errors::GEO_BOX_NEGATIVE);
            }
            match parse_unit(arg(3)) {
                Ok(u) => {
                    conversion = u;
                    shape = Some(geohash::Shape::Box {
                        width: w * u,
                        height: h * u,
                    });
                }
                Err(e) => return ctx.err(e),
            }
            bybox = true;
            i += 3;
        } else {
            return ctx.err(errors::SYNTAX);
        }
        i += 1;
    }
    if (storekey.is_some() || storedist) && (withdist || withhash || withcoord) {
        return ctx.err(if searchstore {
            errors::GEOSEARCHSTORE_WITH
        } else {
            errors::GEORADIUS_STORE_WITH
        });
    }
    if search_kind && !(frommember || fromloc) {
        return ctx.err(&errors::geo_need_from(argv.get(0)));
    }
    if search_kind && !(byradius || bybox) {
        return ctx.err(&errors::geo_need_by(argv.get(0)));
    }
    if any && count == 0 {
        return ctx.err(errors::GEO_ANY_NEEDS_COUNT);
    }
    let (true, Some(center), Some(shape)) = (exists, center, shape) else {
        match storekey {
            Some(dst) => store_result(ctx, dst, Vec::new(), ""),
            None => ctx.out().array(0),
        }
        return;
    };
    if count != 0 && sort == Sort::None && !any {
        sort = Sort::Asc;
    }
    let limit = if any { count as usize } else { 0 };
    let mut found: Vec<Point> = Vec::new();
    let Some(z) = peek(ctx, src) else {
        return ctx.out().array(0);
    };
    for (min, max) in geohash::search_ranges(center, &shape) {
        if limit > 0 && found.len() >= limit {
            break;
        }
        let range = keyspace::zset::ScoreRange {
            min: min as f64,
            max: max as f64,
            minex: false,
            maxex: true,
        };
        for (score, m) in z.iter_score(range, false) {
            let xy = geohash::decode_wgs84(score as u64);
            if let Some(dist) = shape.contains(center, xy) {
                found.push(Point {
                    member: m.into(),
                    dist,
                    score,
                    xy,
                });
                if limit > 0 && found.len() >= limit {
                    break;
                }
            }
        }
    }
    match sort {
        Sort::Asc => found.sort_by(|a, b| a.dist.total_cmp(&b.dist)),
        Sort::Desc => found.sort_by(|a, b| b.dist.total_cmp(&a.dist)),
        Sort::None => {}
    }
    let returned = if count == 0 {
        found.len()
    } else {
        found.len().min(count as usize)
    };
    found.truncate(returned);
    if let Some(dst) = storekey {
        let mut items: Vec<(f64, Box<[u8]>)> = found
            .into_iter()
            .map(|p| {
                let s = if storedist {
                    p.dist / conversion
                } else {
                    p.score
                };
                (s, p.member)
            })
            .collect();
        zsets::sort_items(&mut items);
        let event = if search_kind {
            "geosearchstore"
        } else {
            "georadiusstore"
        };
        return store_result(ctx, dst, items, event);
    }
    let options = withdist as usize + withhash as usize + withcoord as usize;
    let out = ctx.out();
    out.array(found.len());
    for p in &found {
        if options > 0 {
            out.array(options + 1);
        }
        out.bulk(&p.member);
        if withdist {
            reply_distance(out, p.dist / conversion);
        }
        if withhash {
            out.int(p.score as i64);
        }
        if withcoord {
            out.array(2);
            reply_coord(out, p.xy[0]);
            reply_coord(out, p.xy[1]);
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::testkit::Kit;

    #[test]
    fn geoadd_propagates_as_zadd_with_geohash_scores() {
        let mut k = Kit::new();
        assert_eq!(
            k.run(&["GEOADD", "g", "CH", "13.361389", "38.115556", "Palermo"]),
            ":1\r\n"
        );
        assert_eq!(k.propagated(), vec!["zadd g CH 3479099956230698 Palermo"]);
        k.run(&["GEOADD", "g", "NX", "13.361389", "38.115556", "Palermo"]);
        assert!(k.propagated().is_empty());
        k.run(&[
            "GEOSEARCHSTORE",
            "d",
            "g",
            "FROMLONLAT",
            "13",
            "38",
            "BYRADIUS",
            "100",
            "km",
        ]);
        assert_eq!(
            k.propagated(),
            vec!["GEOSEARCHSTORE d g FROMLONLAT 13 38 BYRADIUS 100 km"]
        );
    }

    #[test]
    fn georadius_store_is_verbatim_and_deleting_a_stale_destination_counts() {
        let mut k = Kit::new();
        k.run(&["GEOADD", "g", "13.361389", "38.115556", "Palermo"]);
        k.run(&["GEORADIUS", "g", "15", "37", "200", "km", "STORE", "gs"]);
        k.run(&["GEORADIUS", "nokey", "1", "1", "1", "km", "STORE", "gs"]);
        k.run(&["GEORADIUS", "nokey", "1", "1", "1", "km", "STORE", "gs"]);
        k.run(&["GEORADIUS_RO", "g", "15", "37", "200", "km"]);
        assert_eq!(
            k.propagated(),
            vec![
                "zadd g 3479099956230698 Palermo",
                "GEORADIUS g 15 37 200 km STORE gs",
                "GEORADIUS nokey 1 1 1 km STORE gs",
            ]
        );
    }
}
